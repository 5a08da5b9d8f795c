/*
 * server_testutil.h: what the server's storage tests share: a scratch directory removed at the
 * end, SHA-256, and counting the files in a directory tree.
 */
#ifndef MCD_TEST_SERVER_TESTUTIL_H
#define MCD_TEST_SERVER_TESTUTIL_H

#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A new empty directory under $TMPDIR (or /tmp); the path is static storage per call site. */
static inline char *scratch_dir(char buf[256])
{
	const char *base = getenv("TMPDIR");
	snprintf(buf, 256, "%s/mcd-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		exit(2);
	}
	return buf;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void scratch_remove(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int counted_files;
static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)path;
	(void)sb;
	(void)ftw;
	if (flag == FTW_F)
		counted_files++;
	return 0;
}

/* The number of regular files under dir (0 when it does not exist). */
static inline int count_files(const char *dir)
{
	counted_files = 0;
	nftw(dir, count_entry, 16, FTW_PHYS);
	return counted_files;
}

static inline void sha256_of(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 32;
	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

#endif
