/*
 * fuzz_server_config: medcryptd's configuration file parser (mcd_config_load with --config FILE:
 * `key = value` lines, `#` comments, the settings table of src/medcryptd/config.c), through its
 * public entry point. The input is the file; it is written to a memfd and named by its
 * /proc/self/fd path. A configuration file is written by the operator, not by a client, but it
 * is still text from outside the program, and a crash or a wrong limit here would be quiet.
 *
 * The parser reports each bad line on stderr; the target sends stderr to /dev/null during the
 * call (sanitizer reports go to the saved descriptor). Besides the sanitizers, it aborts when
 * an accepted file leaves a setting outside the range the table promises, or when the result
 * depends on something other than the file (a second parse of the same file agrees).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/medcryptd/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s: invariant broken at line %d: %s\n", __FILE__, __LINE__, #cond);           \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

static int file_fd = -1, null_fd = -1, saved_stderr = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Only the file speaks: no setting from the environment. */
	static const char *env[] = {"MEDCRYPTD_CONFIG",
	                            "MEDCRYPTD_LISTEN",
	                            "MEDCRYPTD_DATA_DIR",
	                            "MEDCRYPTD_CERT",
	                            "MEDCRYPTD_KEY",
	                            "MEDCRYPTD_MAX_UPLOAD",
	                            "MEDCRYPTD_MAX_HASHES",
	                            "MEDCRYPTD_THREADS",
	                            "MEDCRYPTD_ALLOW_PATIENT_SIGNUP",
	                            "MEDCRYPTD_LOG_LEVEL",
	                            "MEDCRYPTD_CONNECTION_LIMIT",
	                            "MEDCRYPTD_PER_IP_LIMIT",
	                            "MEDCRYPTD_CONNECTION_TIMEOUT",
	                            "MEDCRYPTD_LOCKOUT_BASE_SECONDS",
	                            "MEDCRYPTD_POW_BITS"};
	for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
		unsetenv(env[i]);
	file_fd = memfd_create("medcryptd.conf", MFD_CLOEXEC);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	saved_stderr = dup(2);
	CHECK(file_fd >= 0 && null_fd >= 0 && saved_stderr >= 0);
	__sanitizer_set_report_fd((void *)(intptr_t)saved_stderr);
	snprintf(path, sizeof path, "/proc/self/fd/%d", file_fd);
	return 0;
}

static bool load(mcd_config *cfg)
{
	char *argv[] = {"medcryptd", "--config", path, NULL};
	fflush(stderr);
	CHECK(dup2(null_fd, 2) == 2);
	bool ok = mcd_config_load(cfg, 3, argv, 1);
	fflush(stderr);
	CHECK(dup2(saved_stderr, 2) == 2);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	CHECK(ftruncate(file_fd, 0) == 0);
	CHECK(pwrite(file_fd, data, size, 0) == (ssize_t)size);
	mcd_config cfg, again;
	bool ok = load(&cfg);
	CHECK(load(&again) == ok);
	if (ok) {
		unsigned char addr[16];
		CHECK(cfg.listen_host && (inet_pton(AF_INET, cfg.listen_host, addr) == 1 ||
		                          inet_pton(AF_INET6, cfg.listen_host, addr) == 1));
		CHECK(cfg.port >= 1 && cfg.port <= 65535);
		CHECK(cfg.data_dir && cfg.data_dir[0]);
		CHECK((cfg.cert_file == NULL) == (cfg.key_file == NULL));
		CHECK(!cfg.cert_file || cfg.cert_file[0]);
		CHECK(cfg.max_upload >= 1024);
		CHECK(cfg.max_hashes >= 1 && cfg.max_hashes <= 64);
		CHECK(cfg.threads >= 1 && cfg.threads <= 256);
		CHECK(cfg.connection_limit >= 1 && cfg.connection_limit <= 100000);
		CHECK(cfg.per_ip_limit >= 1 && cfg.per_ip_limit <= 100000);
		CHECK(cfg.connection_timeout >= 1 && cfg.connection_timeout <= 86400);
		CHECK(cfg.lockout_base_seconds >= 1 && cfg.lockout_base_seconds <= 86400);
		CHECK(cfg.pow_bits >= 1 && cfg.pow_bits <= 32);
		CHECK(cfg.config_file && strcmp(cfg.config_file, path) == 0);
		CHECK(strcmp(cfg.listen_host, again.listen_host) == 0 && cfg.port == again.port &&
		      strcmp(cfg.data_dir, again.data_dir) == 0 && cfg.max_upload == again.max_upload &&
		      cfg.threads == again.threads && cfg.allow_patient_signup == again.allow_patient_signup &&
		      cfg.log_level == again.log_level);
	}
	mcd_config_free(&cfg);
	mcd_config_free(&again);
	return 0;
}
