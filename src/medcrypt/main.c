/*
 * main.c: the medcrypt command: dispatches to a command, prints its help, and maps the
 * library's failure classes to exit statuses in one table (the only place that exits).
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cli.h"

/* Exit statuses, one per failure class (docs/medcrypt.1, EXIT STATUS). */
static const struct {
	mc_status status;
	int code;
} exit_codes[] = {
    {MC_OK, 0},           {MC_ERR_IO, 1},     {MC_ERR_NOMEM, 1},   {MC_ERR_CRYPTO, 1},  {MC_ERR_MISUSE, 2},
    {MC_ERR_KEY, 3},      {MC_ERR_HEADER, 4}, {MC_ERR_UNSUPPORTED, 5}, {MC_ERR_NO_MATCH, 6}, {MC_ERR_MAC, 7},
    {MC_ERR_PAYLOAD, 8},  {MC_ERR_SIGNATURE, 9}, {MC_ERR_CANCELLED, 1},
};

static int exit_code(mc_status st)
{
	for (size_t i = 0; i < sizeof exit_codes / sizeof exit_codes[0]; i++)
		if (exit_codes[i].status == st)
			return exit_codes[i].code;
	return 1;
}

static const struct command {
	const char *name;
	cmd_fn fn;
	const char *summary;
	const char *help;
} commands[] = {
    {"keygen", cmd_keygen, "make a new identity (NAME.key and NAME.pub)",
     "usage: medcrypt keygen -o NAME [--name LABEL] [--rsa-bits 3072|4096] [--sign ed25519|rsa-pss]\n"
     "                       [--passphrase-fd N] [--json]\n"
     "\n"
     "Makes an identity: an RSA key pair that receives file keys and a signing key pair.\n"
     "The passphrase needs 12 or more characters and must be hard to guess (zxcvbn score 3).\n"
     "Writes NAME.key (private, passphrase-encrypted PKCS#8, mode 0600) and NAME.pub (public,\n"
     "give it to those who send to you). Never overwrites either file.\n"
     "\n"
     "  -o NAME            path of the two files, without extension\n"
     "  --name LABEL       a label written into NAME.pub (default: the base name of NAME)\n"
     "  --rsa-bits N       RSA key size, 3072 (default) or 4096\n"
     "  --sign ALG         ed25519 (default) or rsa-pss\n"
     "  --passphrase-fd N  read the passphrase from file descriptor N (else MEDCRYPT_PASSPHRASE,\n"
     "                     else asked twice on the terminal)\n"
     "  --json             print the fingerprints as JSON\n"
     "\n"
     "example: medcrypt keygen -o doctor\n"},
    {"seal", cmd_seal, "encrypt files for recipients",
     "usage: medcrypt seal -r RECIPIENT [-r ...] [--cipher chacha20|aes] [--sign NAME.key]\n"
     "                     [--meta FILE.json] [--preview IMAGE] [--passphrase-fd N] [--force]\n"
     "                     [--json] -o OUT IN [IN ...]\n"
     "\n"
     "Seals IN for every recipient: a fresh file key, wrapped with RSA-OAEP for each. With several\n"
     "inputs, OUT is a directory and each input becomes OUT/<name>" SEALED_SUFFIX
     "; the signing key's\n"
     "passphrase is asked once for all of them. IN or OUT may be - (stdin, stdout).\n"
     "\n"
     "  -r, --recipient F  a NAME.pub identity, an RSA public key PEM or an X.509 certificate\n"
     "                     (RSA 3072 to 8192 bits; smaller keys are refused)\n"
     "  --cipher C         chacha20 (ChaCha20-Poly1305, default) or aes (AES-256-GCM)\n"
     "  --sign NAME.key    sign with this identity's signing key\n"
     "  --meta FILE.json   a JSON object stored encrypted in the header (at most 1 MiB)\n"
     "  --preview IMAGE    a PNG or JPEG preview stored encrypted in the header (at most 8 MiB)\n"
     "  -f, --force        replace OUT if it exists\n"
     "  --json             print what was written as JSON\n"
     "\n"
     "example: medcrypt seal -r doctor.pub -r patient.pub --sign lab.key -o scan.medcrypt scan.dcm\n"},
    {"open", cmd_open, "decrypt a sealed file",
     "usage: medcrypt open -k NAME.key [--trust SIGNER.pub ...] [--meta-out FILE] [--passphrase-fd N]\n"
     "                     [--force] [--json] -o OUT IN\n"
     "\n"
     "Decrypts IN with your private key. OUT appears only after the last chunk and the signature\n"
     "verified. With -o - the plaintext streams to stdout as chunks verify; a failure then exits\n"
     "non-zero and what was written must be discarded.\n"
     "\n"
     "  -k, --key NAME.key   your identity\n"
     "  --trust SIGNER.pub   require a signature by this key (repeatable); without it a signer\n"
     "                       is reported by fingerprint and an unsigned file with a warning\n"
     "  --meta-out FILE      also write the decrypted metadata JSON to FILE\n"
     "  -f, --force          replace OUT if it exists\n"
     "  --json               print the result (sizes, signer) as JSON on stdout (needs -o FILE)\n"
     "\n"
     "example: medcrypt open -k doctor.key --trust lab.pub -o opened.dcm scan.medcrypt\n"},
    {"inspect", cmd_inspect, "show a sealed file's header",
     "usage: medcrypt inspect [-k NAME.key] [--passphrase-fd N] [--json] IN\n"
     "\n"
     "Shows the cipher, sizes, recipients' fingerprints and the signer. With -k, also checks the\n"
     "header MAC and shows the decrypted metadata.\n"
     "\n"
     "example: medcrypt inspect --json scan.medcrypt\n"},
    {"verify", cmd_verify, "check a sealed file's signature",
     "usage: medcrypt verify [--trust SIGNER.pub ...] [-k NAME.key] [--passphrase-fd N] [--json] IN\n"
     "\n"
     "Checks the signature over the header and every ciphertext chunk; this needs no key. With\n"
     "-k, also decrypts every chunk (writing nothing). --trust requires one of these signers.\n"
     "\n"
     "example: medcrypt verify --trust lab.pub scan.medcrypt\n"},
    {"share", cmd_share, "add recipients to a sealed file",
     "usage: medcrypt share -k NAME.key -r NEW.pub [-r ...] [--passphrase-fd N] [--force] [--json]\n"
     "                      -o OUT IN\n"
     "\n"
     "Wraps the file key of IN (which must be shared with you) for more recipients. The payload\n"
     "and the signature are copied unchanged: nothing is re-encrypted or re-signed.\n"
     "\n"
     "example: medcrypt share -k doctor.key -r colleague.pub -o shared.medcrypt scan.medcrypt\n"},
    {"unshare", cmd_unshare, "remove recipients from a sealed file",
     "usage: medcrypt unshare (-r OLD.pub | --fingerprint HEX) [...] [--force] [--json] -o OUT IN\n"
     "\n"
     "Removes the wraps of the given recipients. Needs no key. Refuses to remove the last one.\n"
     "A recipient who already opened the file or kept a copy keeps what they have.\n"
     "\n"
     "example: medcrypt unshare -r colleague.pub -o scan2.medcrypt shared.medcrypt\n"},
    {"fingerprint", cmd_fingerprint, "print the fingerprints of a public identity or key",
     "usage: medcrypt fingerprint [--json] FILE.pub\n"
     "\n"
     "Prints the SHA-256 fingerprints of the keys in FILE (an identity, a PEM public key or a\n"
     "certificate), to compare with their owner over another channel.\n"
     "\n"
     "example: medcrypt fingerprint doctor.pub\n"},
    {"meta", cmd_meta, "show the patient, study and image attributes of a DICOM file",
     "usage: medcrypt meta [--json] FILE\n"
     "\n"
     "Reads FILE (a DICOM Part 10 file, or - for stdin) and prints PatientID, PatientName,\n"
     "PatientBirthDate, PatientSex, StudyDate, StudyTime, Modality, StudyDescription,\n"
     "BodyPartExamined, the Study, Series and SOP Instance UIDs, Rows, Columns, NumberOfFrames\n"
     "and the TransferSyntax, from the top-level dataset. The pixel data is never loaded.\n"
     "Exits 4 when FILE is not DICOM or is malformed; PNG/JPEG are not supported yet (exit 5).\n"
     "\n"
     "  --json   print the attributes as a JSON object\n"},
};

static void print_main_help(FILE *f)
{
	fprintf(f, "medcrypt %s: end-to-end encryption of medical images and messages\n\n"
	           "usage: medcrypt COMMAND [OPTIONS] ...\n\ncommands:\n",
	        MC_VERSION_STRING);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'medcrypt COMMAND --help' describes a command. Passphrases are read from --passphrase-fd N,\n"
	           "the MEDCRYPT_PASSPHRASE environment variable or the terminal, never from arguments.\n\n"
	           "exit status: 0 ok, 1 I/O or internal error, 2 usage, 3 key (wrong passphrase, refused key),\n"
	           "4 not a valid sealed file, 5 unsupported version or algorithm, 6 not shared with this key,\n"
	           "7 header authentication failed, 8 payload altered or truncated, 9 bad or untrusted signature\n");
}

void usage_of(const char *command, FILE *f)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, command) == 0)
			fputs(commands[i].help, f);
}

int main(int argc, char **argv)
{
	mc_err err = {0};
	/* No core dump may carry a key or plaintext to disk. */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Private keys' big numbers go to OpenSSL's locked secure heap where the system allows it. */
	if (CRYPTO_secure_malloc_init(1 << 17, 32) == 0) {
		/* not fatal: mlock may be limited */
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		if (argc >= 3 && strcmp(argv[1], "help") == 0) {
			usage_of(argv[2], stdout);
			return 0;
		}
		print_main_help(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("medcrypt %s (%s)\n", MC_VERSION_STRING, OpenSSL_version(OPENSSL_VERSION));
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(commands[i].name, argv[1]) != 0)
			continue;
		for (int a = 2; a < argc; a++) {
			if (strcmp(argv[a], "--") == 0)
				break;
			if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
				fputs(commands[i].help, stdout);
				return 0;
			}
		}
		mc_status st = commands[i].fn(argc - 1, argv + 1, &err);
		fflush(stdout);
		if (st != MC_OK)
			fprintf(stderr, "medcrypt %s: %s: %s\n", argv[1], mc_status_name(st),
			        err.msg[0] ? err.msg : "failed");
		return exit_code(st);
	}
	fprintf(stderr, "medcrypt: unknown command '%s' (see 'medcrypt --help')\n", argv[1]);
	return 2;
}
