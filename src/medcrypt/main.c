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
#include "cmd_appoint.h"
#include "cmd_consent.h"
#include "cmd_msg.h"
#include "cmd_patients.h"

/* Exit statuses, one per failure class (docs/medcrypt.1, EXIT STATUS). */
static const struct {
	mc_status status;
	int code;
} exit_codes[] = {
    {MC_OK, 0},
    {MC_ERR_IO, 1},
    {MC_ERR_NOMEM, 1},
    {MC_ERR_CRYPTO, 1},
    {MC_ERR_MISUSE, 2},
    {MC_ERR_KEY, 3},
    {MC_ERR_HEADER, 4},
    {MC_ERR_UNSUPPORTED, 5},
    {MC_ERR_NO_MATCH, 6},
    {MC_ERR_MAC, 7},
    {MC_ERR_PAYLOAD, 8},
    {MC_ERR_SIGNATURE, 9},
    {MC_ERR_CANCELLED, 1},
    /* the server client (cli.h) */
    {CLI_ERR_SESSION, 10},
    {CLI_ERR_DENIED, 11},
    {CLI_ERR_RETRY, 12},
    {CLI_ERR_PIN, 13},
    {CLI_ERR_NETWORK, 14},
    {CLI_ERR_REFUSED, 15},
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
     "                     [--meta FILE.json] [--no-meta] [--preview [--preview-block N]]\n"
     "                     [--preview-file IMAGE] [--passphrase-fd N] [--force] [--json]\n"
     "                     -o OUT IN [IN ...]\n"
     "\n"
     "Seals IN for every recipient: a fresh file key, wrapped with RSA-OAEP for each. With several\n"
     "inputs, OUT is a directory and each input becomes OUT/<name>" SEALED_SUFFIX "; the signing key's\n"
     "passphrase is asked once for all of them. IN or OUT may be - (stdin, stdout).\n"
     "\n"
     "  -r, --recipient F  a NAME.pub identity, an RSA public key PEM or an X.509 certificate\n"
     "                     (RSA 3072 to 8192 bits; smaller keys are refused)\n"
     "  --cipher C         chacha20 (ChaCha20-Poly1305, default) or aes (AES-256-GCM)\n"
     "  --sign NAME.key    sign with this identity's signing key\n"
     "  --meta FILE.json   a JSON object stored encrypted in the header (at most 1 MiB); its\n"
     "                     members are added to (and win over) what is read from a DICOM, PNG\n"
     "                     or JPEG input, which is stored by default ('medcrypt meta --json')\n"
     "  --no-meta          do not store what is read from the input (--meta still is)\n"
     "  --preview          make a pixelated preview of each input ('medcrypt preview') and\n"
     "                     store it encrypted in the header\n"
     "  --preview-block N  the preview's block size (implies --preview)\n"
     "  --preview-file IMAGE  store this PNG or JPEG as the preview instead (at most 8 MiB)\n"
     "  -f, --force        replace OUT if it exists\n"
     "  --json             print what was written as JSON\n"
     "\n"
     "example: medcrypt seal -r doctor.pub -r patient.pub --sign lab.key -o scan.medcrypt scan.dcm\n"},
    {"open", cmd_open, "decrypt a sealed file",
     "usage: medcrypt open -k NAME.key [--trust SIGNER.pub ...] [--meta-out FILE] [--preview-out FILE]\n"
     "                     [--passphrase-fd N] [--force] [--json] -o OUT IN\n"
     "\n"
     "Decrypts IN with your private key. OUT appears only after the last chunk and the signature\n"
     "verified. With -o - the plaintext streams to stdout as chunks verify; a failure then exits\n"
     "non-zero and what was written must be discarded.\n"
     "\n"
     "  -k, --key NAME.key   your identity\n"
     "  --trust SIGNER.pub   require a signature by this key (repeatable); without it a signer\n"
     "                       is reported by fingerprint and an unsigned file with a warning\n"
     "  --meta-out FILE      also write the decrypted metadata JSON to FILE\n"
     "  --preview-out FILE   also write the decrypted preview image (PNG or JPEG) to FILE\n"
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
    {"share", cmd_share_any, "add recipients to a sealed file, or share an image on the server",
     "usage: medcrypt share -k NAME.key -r NEW.pub [-r ...] [--passphrase-fd N] [--force] [--json]\n"
     "                      -o OUT IN\n"
     "       medcrypt share ID --to USER [--passphrase-fd N] [--json]\n"
     "\n"
     "With --to: lets USER open the image ID on the server. Asks for your password (the server\n"
     "wants it again for sharing), unwraps the file key with your key and wraps it for USER's\n"
     "current encryption key from the directory (its fingerprint is shown); the server gets only\n"
     "that wrap. Nothing is re-encrypted.\n"
     "\n"
     "Without --to, on a local file:\n"
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
    {"meta", cmd_meta, "show the patient, study and image attributes of a DICOM, PNG or JPEG file",
     "usage: medcrypt meta [--json] FILE\n"
     "\n"
     "Reads FILE (or - for stdin); its type is told by its first bytes, never its name.\n"
     "DICOM Part 10: PatientID, PatientName, PatientBirthDate, PatientSex, StudyDate, StudyTime,\n"
     "Modality, StudyDescription, BodyPartExamined, the Study, Series and SOP Instance UIDs, Rows,\n"
     "Columns, NumberOfFrames and the TransferSyntax, from the top-level dataset; text in the\n"
     "character sets (0008,0005) names (ISO 8859, JIS, KS X 1001, GB, UTF-8), shown as UTF-8.\n"
     "PNG and JPEG: Width, Height, BitDepth, Components, ColorType, Interlaced/Progressive, the\n"
     "PNG text chunks (Text[...], CreationTime) and tIME (ModificationTime), and the EXIF dates\n"
     "(DateTimeOriginal, DateTimeDigitized, DateTime). The pixel data is never decoded.\n"
     "Exits 4 when FILE is of no known type or is malformed, 5 when a PNG/JPEG declares more\n"
     "than 16384x16384 or 2^28 pixels.\n"
     "\n"
     "  --json   print the attributes as a JSON object\n"},
    {"deid", cmd_deid, "de-identify DICOM files, sealing the originals for recipients",
     "usage: medcrypt deid -r RECIPIENT.pub [-r ...] [--key-map MAP [-k NAME.key]] [--force]\n"
     "                     [--region x,y,w,h ...] -o OUT.dcm|OUTDIR FILE|DIR\n"
     "\n"
     "Applies the DICOM PS3.15 Basic Application Level Confidentiality Profile (Table E.1-1:\n"
     "remove, empty, dummy, new UID) to every attribute at every depth, removes private\n"
     "attributes, group lengths, curves and overlays, replaces UIDs consistently (a keyed\n"
     "mapping, so a series stays a series) and sets PatientIdentityRemoved. The original values\n"
     "are kept in the file, encrypted for the recipients (Encrypted Attributes Sequence, CMS, as\n"
     "gdcmanon reads it): 'medcrypt reid' restores them. Burned-in text and faces in the pixels\n"
     "are NOT removed unless --region blanks them (docs/SECURITY.md). With a directory, every\n"
     "regular file goes into OUTDIR under its name, with one UID mapping for all. OUT appears\n"
     "only when complete.\n"
     "\n"
     "  -r, --recipient F  who may re-identify: a NAME.pub, RSA public key or certificate\n"
     "  --key-map MAP      keep the UID mapping's key sealed for the recipients in MAP, and reuse\n"
     "                     it when MAP exists (then -k opens it), so later runs map UIDs alike\n"
     "  -k, --key NAME.key a recipient's identity, to open an existing --key-map\n"
     "  --region x,y,w,h   blank this rectangle (columns x..x+w-1, rows y..y+h-1) on every frame\n"
     "                     of native pixel data, up to 64 times; the original pixels are sealed\n"
     "                     with the attributes for reid, and BurnedInAnnotation becomes NO\n"
     "  -f, --force        replace outputs (and MAP) that exist\n"
     "\n"
     "  medcrypt deid -r doctor.pub -o research.dcm scan.dcm\n"},
    {"reid", cmd_reid, "restore a file de-identified by 'medcrypt deid' or gdcmanon",
     "usage: medcrypt reid -k NAME.key [--passphrase-fd N] [--force] -o ORIG.dcm FILE\n"
     "\n"
     "Decrypts the Encrypted Attributes Sequence of FILE with your key and puts every original\n"
     "attribute back; the result's dataset is the original's (docs/SECURITY.md lists what the\n"
     "file meta group and gdcmanon's outputs cannot get back). ORIG appears only when complete.\n"
     "\n"
     "  medcrypt reid -k doctor.key -o restored.dcm research.dcm\n"},
    {"preview", cmd_preview, "write a pixelated preview of a DICOM, PNG or JPEG file",
     "usage: medcrypt preview [--block N] [--max-size PX] [--force] [--json] -o OUT.png FILE\n"
     "\n"
     "Cuts the image (DICOM: its first frame) into N x N squares, replaces each by its mean and\n"
     "writes the mosaic as an 8-bit PNG whose longest side is at most PX pixels. The default\n"
     "block, max(8, shorter side / 16) rounded up to a multiple of 8, leaves at most 16 blocks\n"
     "across the shorter side so that no text stays legible (docs/SECURITY.md). DICOM: 8/16-bit\n"
     "monochrome (with the file's window, or one from the histogram), RGB, JPEG Baseline, JPEG\n"
     "Lossless and RLE; other compressed transfer syntaxes exit 5. OUT appears only when complete.\n"
     "\n"
     "  --block N       side of the averaged squares in image pixels (grows if the grid would\n"
     "                  not fit in PX)\n"
     "  --max-size PX   longest side of the preview (default 256, at most 4096)\n"
     "  -f, --force     replace OUT if it exists\n"
     "  --json          print the block, the grid and the preview size as JSON\n"
     "\n"
     "example: medcrypt preview -o thumb.png scan.png\n"},
    {"redact", cmd_redact, "hide regions of a PNG, JPEG or DICOM image, sealing their originals inside it",
     "usage: medcrypt redact --region x,y,w,h [--region ...] [--fill black|noise|pixelate]\n"
     "                       -r RECIPIENT.pub [-r ...] [-k SIGNER.key] [--cipher chacha20|aes]\n"
     "                       [--passphrase-fd N] [--force] [--json] -o OUT IN\n"
     "\n"
     "Writes OUT, a PNG, JPEG or DICOM file like IN (the type is judged by its bytes) that any\n"
     "viewer opens, with the regions hidden. Their original pixels (PNG, DICOM) or DCT coefficients\n"
     "(JPEG) travel inside OUT, sealed for the recipients (PNG: an mcRG chunk; JPEG: APP11 segments;\n"
     "DICOM: the private element (7FD1,1001)); 'medcrypt restore' gives them back exactly.\n"
     "Overlapping regions are allowed: the hidden area is their union. JPEG regions grow to whole\n"
     "blocks (8 or 16 pixels; reported on stderr). DICOM: native pixel data, every frame.\n"
     "Metadata (text chunks, EXIF, comments, DICOM attributes) is copied unchanged and NOT hidden.\n"
     "\n"
     "  --region x,y,w,h    a rectangle inside the image (at most 64; exit 2 if outside)\n"
     "  --fill F            black (default), noise (random), or pixelate (16-pixel cells keep\n"
     "                      their mean colour: a coarse picture of the region stays visible)\n"
     "  -r, --recipient F   who may restore (a NAME.pub, RSA public key PEM or certificate)\n"
     "  -k, --sign NAME.key sign the sealed regions with this identity\n"
     "  --cipher C          chacha20 (default) or aes\n"
     "  -f, --force         replace OUT if it exists\n"
     "  --json              print the hidden regions and sizes as JSON\n"
     "\n"
     "example: medcrypt redact --region 0,0,320,40 -r doctor.pub -k lab.key -o anon.png scan.png\n"},
    {"restore", cmd_restore, "give back the original of a redacted PNG, JPEG or DICOM image",
     "usage: medcrypt restore -k NAME.key [--trust SIGNER.pub ...] [--passphrase-fd N] [--force]\n"
     "                        [--json] -o ORIG IN\n"
     "\n"
     "Opens the regions sealed inside IN (made by 'medcrypt redact') with your key and writes ORIG,\n"
     "whose decoded pixels equal the original's (a DICOM file: the original file byte for byte),\n"
     "without the sealed regions. Refuses (exit 8, no output) when IN was altered after it was\n"
     "redacted. A signature is checked and its signer's fingerprint reported; with --trust one of\n"
     "these signers is required (exit 9 otherwise).\n"
     "\n"
     "  -k, --key NAME.key   your identity (exit 6 if the regions were not sealed for it)\n"
     "  --trust SIGNER.pub   require a signature by this key (repeatable)\n"
     "  -f, --force          replace ORIG if it exists\n"
     "  --json               print the restored regions and the signer as JSON\n"
     "\n"
     "example: medcrypt restore -k doctor.key --trust lab.pub -o scan-restored.png anon.png\n"},
    /* The client of a medcryptd server (docs/API.md Part 2, docs/medcrypt.1 "SERVER COMMANDS"). */
    {"login", cmd_login, "log in to a medcryptd server",
     "usage: medcrypt login [URL] [--user NAME] [--key NAME.key] [--yes | --fingerprint HEX]\n"
     "                      [--passphrase-fd N] [--json]\n"
     "\n"
     "Logs in to the server at URL (https://HOST:PORT; default: the last one) without sending\n"
     "the password: Argon2id on this machine derives the key that is sent. On a server never\n"
     "seen, shows its certificate's SHA-256 fingerprint and asks to trust it; compare it with\n"
     "the one medcryptd printed at its first start. The fingerprint is then kept in\n"
     "$MEDCRYPT_HOME/known_servers and a changed certificate is refused (exit 13). Solves the\n"
     "proof of work the server asks for after failed logins; a locked account exits 12 with\n"
     "the wait. The session goes to $MEDCRYPT_HOME/session (mode 0600). When NAME.key is\n"
     "missing (a new machine), it is restored from the copy the server keeps wrapped under\n"
     "your password.\n"
     "\n"
     "  --user NAME        your user name (default: the last one)\n"
     "  --key NAME.key     your identity (default: $MEDCRYPT_HOME/keys/NAME.key)\n"
     "  --yes              trust a new server's certificate without asking (MEDCRYPT_ASSUME_YES=1)\n"
     "  --fingerprint HEX  trust a new server only if its certificate has this SHA-256\n"
     "  --passphrase-fd N  read the password from file descriptor N (else MEDCRYPT_PASSPHRASE,\n"
     "                     else the terminal)\n"},
    {"logout", cmd_logout, "end the session (--everywhere: every session of yours)",
     "usage: medcrypt logout [--everywhere] [--json]\n"
     "\n"
     "Ends the session on the server and removes $MEDCRYPT_HOME/session. --everywhere ends\n"
     "every session of your account, on every machine.\n"},
    {"whoami", cmd_whoami, "show the logged-in user, role, fingerprints and session",
     "usage: medcrypt whoami [--json]\n"},
    {"register", cmd_register, "create an account with an invitation",
     "usage: medcrypt register INVITATION --user NAME [--display-name TEXT] [--url URL]\n"
     "                         [--key NAME.key] [--yes | --fingerprint HEX] [--passphrase-fd N] [--json]\n"
     "\n"
     "Creates the account NAME with an invitation code from the admin (which fixes the role).\n"
     "Makes a new identity (RSA-3072 and Ed25519) in $MEDCRYPT_HOME/keys/NAME.key, encrypted\n"
     "under the account password, unless --key names an existing one encrypted under the same\n"
     "password. The password needs 12 or more characters and must be hard to guess. The server\n"
     "gets the public keys and the private keys wrapped under the password and under a new\n"
     "RECOVERY CODE, which is printed once: keep it offline. Starts a session.\n"
     "\n"
     "  --url URL          the server (default: that of the current session)\n"
     "  --display-name T   the name others see (default: NAME)\n"},
    {"invite", cmd_invite, "make an invitation for a new user (admin)",
     "usage: medcrypt invite --role admin|technician|doctor|patient|researcher [--expires DAYS] [--json]\n"
     "\n"
     "Prints a one-time invitation code for a new user of that role (valid 7 days by default,\n"
     "at most 30).\n"},
    {"users", cmd_users, "list the user directory with key fingerprints",
     "usage: medcrypt users [--role R] [--json]\n"
     "\n"
     "Lists the users, their roles and the fingerprints of their encryption and signing keys, to\n"
     "compare with their owners over another channel.\n"},
    {"admin", cmd_admin, "manage accounts and invitations, read and verify the audit log (admin)",
     "usage: medcrypt admin users [--role R] [--disabled] [--json]\n"
     "       medcrypt admin disable USER | enable USER | unlock USER [--json]\n"
     "       medcrypt admin role USER admin|technician|doctor|patient|researcher [--json]\n"
     "       medcrypt admin email USER ADDRESS|none [--json]\n"
     "       medcrypt admin invitations [--json]\n"
     "       medcrypt admin cancel-invitation ID [--json]\n"
     "       medcrypt admin audit [--after SEQ] [--limit N] [--json]\n"
     "       medcrypt admin audit --verify [--json]\n"
     "\n"
     "The administrator's side of the server (docs/API.md Part 2, sections 13, 16 and 17), with the\n"
     "session of 'medcrypt login'. Other roles are refused (exit 11).\n"
     "\n"
     "  users              every account, disabled ones included: role, state (active, disabled,\n"
     "                     locked until a time after failed logins), display name (control\n"
     "                     characters shown as ?) and key fingerprints; --role R only that role,\n"
     "                     --disabled only disabled accounts\n"
     "  disable USER       ends USER's sessions and refuses their logins; nothing is deleted\n"
     "  enable USER        lets a disabled USER log in again, with their keys and images\n"
     "  role USER ROLE     gives USER another role (an admin cannot change their own account)\n"
     "  unlock USER        ends USER's lockout after failed logins and resets the count\n"
     "  email USER ADDRESS where the server sends USER's notice mails (\"you have a new item\",\n"
     "                     nothing more; medcryptd --smtp-url); none removes the address\n"
     "  invitations        the pending invitations: ID, role, made, valid until, by whom (the\n"
     "                     codes are not kept by the server and cannot be shown)\n"
     "  cancel-invitation ID  cancels a pending invitation: its code then registers no one\n"
     "  audit              the audit log, one line per record (time in UTC), oldest first, all of\n"
     "                     it, fetched in requests of --limit N records (default 1000, at most\n"
     "                     10000) following each page's last seq; --after SEQ starts after SEQ;\n"
     "                     --json prints JSON lines, as 'medcryptd audit export' does\n"
     "  audit --verify     has the server check the whole hash chain and its signed checkpoints;\n"
     "                     exits 9 naming the first bad record when they do not verify\n"
     "  --json             print the answer as JSON\n"
     "\n"
     "examples:\n"
     "  medcrypt admin users --disabled\n"
     "  medcrypt admin users --role doctor --json\n"
     "  medcrypt admin role jdoe researcher\n"
     "  medcrypt admin disable jdoe\n"
     "  medcrypt admin enable jdoe\n"
     "  medcrypt admin unlock jdoe\n"
     "  medcrypt admin email jdoe jdoe@clinic.example\n"
     "  medcrypt admin email jdoe none\n"
     "  medcrypt admin invitations\n"
     "  medcrypt admin cancel-invitation 0123456789abcdef0123456789abcdef\n"
     "  medcrypt admin audit --limit 100\n"
     "  medcrypt admin audit --after 20 --json\n"
     "  medcrypt admin audit --verify\n"},
    {"send", cmd_send, "seal a file for users and upload it",
     "usage: medcrypt send FILE --to USER [--to ...] [--patient USER] [--cipher chacha20|aes]\n"
     "                     [--deidentified [--confirm-deidentified]]\n"
     "                     [--meta FILE.json] [--passphrase-fd N] [--json]\n"
     "\n"
     "Seals FILE on this machine for each USER's current encryption key from the directory\n"
     "(fingerprints are shown) and for you, signed with your key, and uploads it. Prints the\n"
     "image ID. The metadata sealed with it (encrypted: the server never sees it) is what\n"
     "'medcrypt meta --json' reads from a DICOM, PNG or JPEG file (else the file name), with\n"
     "the members of the --meta JSON object added over it.\n"
     "\n"
     "The server learns which patient account the image is about, never the PatientID or any\n"
     "other metadata value. Without --patient, a DICOM's PatientID is looked up in your own\n"
     "PatientID mapping ('medcrypt patients'). The patient is added to the recipients when not\n"
     "among them: every image about a patient can be opened by that patient. A technician must\n"
     "name the patient, and so must a doctor unless the item is de-identified (exit 2 otherwise).\n"
     "The server refuses recipients the clinical rules do not allow (exit 11, saying who and what\n"
     "to do): besides the patient, only the doctors the patient appointed ('medcrypt appoint').\n"
     "\n"
     "A researcher receives only items marked de-identified. --deidentified checks FILE here\n"
     "first and refuses it (exit 2, naming the attribute by tag and keyword, never its value)\n"
     "when a DICOM still carries what the PS3.15 Basic Profile takes out ('medcrypt deid' makes\n"
     "such a copy), lacks PatientIdentityRemoved YES or has BurnedInAnnotation YES ('deid\n"
     "--region' blanks the text); a PNG or JPEG cannot be checked and needs --confirm-deidentified\n"
     "(say so only after looking at it). The claim (profile, what was checked, the pixels) is\n"
     "sealed in the metadata and signed with the file; 'get' and 'ls' show it and who signed it.\n"
     "For example, a doctor sends a de-identified copy to a researcher:\n"
     "    medcrypt deid -r doca.pub -o research.dcm scan.dcm\n"
     "    medcrypt send research.dcm --deidentified --to resa\n"
     "\n"
     "  --to USER          a recipient (repeatable, at most 64; none needed with --patient)\n"
     "  --patient USER     the patient's account the image is about\n"
     "  --deidentified     mark the item de-identified, with a signed claim (checked first)\n"
     "  --confirm-deidentified  for a PNG or JPEG: you confirm nothing in it identifies anyone\n"
     "  --cipher C         chacha20 (default) or aes\n"
     "  --meta FILE.json   members added to the sealed metadata\n"
     "  --passphrase-fd N  read the key passphrase from file descriptor N\n"
     "  --json             print the server's answer as JSON\n"
     "\n"
     "examples:\n"
     "  medcrypt send scan.png --patient pat1 --to doca\n"
     "  medcrypt send scan.dcm --to doca\n"},
    {"patients", cmd_patients, "map DICOM PatientIDs to patient accounts, on this machine only",
     "usage: medcrypt patients map PATIENTID USER [--passphrase-fd N] [--json]\n"
     "       medcrypt patients map --from FILE USER [--passphrase-fd N] [--json]\n"
     "       medcrypt patients list [--passphrase-fd N] [--json]\n"
     "       medcrypt patients unmap PATIENTID | --from FILE [--passphrase-fd N] [--json]\n"
     "\n"
     "Your PatientID mapping tells 'medcrypt send' which patient account a DICOM file is about\n"
     "when --patient is not given. It is kept in $MEDCRYPT_HOME/patients/, sealed for your own\n"
     "key and signed by you, and never sent to the server; each account of each server has its\n"
     "own. map checks on the server that USER is a patient. --from FILE reads the PatientID from\n"
     "a DICOM file, so that it need not be typed (or appear in the process list). Only 'patients\n"
     "list' shows PatientIDs.\n"
     "\n"
     "  map PATIENTID USER   map PATIENTID to the patient account USER (replaces an older entry)\n"
     "  map --from FILE USER map FILE's PatientID to USER\n"
     "  list                 the mapping: PatientID, account, when added\n"
     "  unmap PATIENTID      remove an entry (--from FILE: FILE's PatientID); absent: exit 11\n"
     "  --passphrase-fd N    read the key passphrase from file descriptor N\n"
     "  --json               print the result as JSON\n"
     "\n"
     "examples:\n"
     "  medcrypt patients map --from scan.dcm pat1\n"
     "  medcrypt patients list\n"
     "  medcrypt patients unmap --from scan.dcm\n"},
    {"ls", cmd_ls, "list the images you sent or may open",
     "usage: medcrypt ls [--no-meta] [--limit N] [--passphrase-fd N] [--json]\n"
     "\n"
     "Lists the images, newest first, with their sender and, decrypted here with your key, the\n"
     "PatientID, Modality and StudyDate of their metadata (--no-meta: no key needed). The\n"
     "metadata is the sender's only once 'medcrypt get' verified the signature.\n"},
    {"get", cmd_get, "download, verify and open an image",
     "usage: medcrypt get ID -o FILE [--force] [--limit-rate BYTES] [--passphrase-fd N] [--json]\n"
     "\n"
     "Downloads the sealed image ID to FILE.part (an interrupted download resumes from there),\n"
     "checks its SHA-256, opens it with your key and requires the signature of the sender's\n"
     "current signing key from the directory. FILE appears only after every chunk and the\n"
     "signature verified. -o - is refused for that reason.\n"},
    {"revoke", cmd_revoke, "take back a user's access to an image",
     "usage: medcrypt revoke ID --from USER [--passphrase-fd N] [--json]\n"
     "\n"
     "Destroys USER's wrap of image ID on the server (asks for your password again). What USER\n"
     "already downloaded and opened stays with them.\n"},
    {"rm", cmd_rm, "delete an image you sent",
     "usage: medcrypt rm ID [--json]\n"
     "\n"
     "Deletes image ID: every wrap is destroyed (crypto-shredding) and the blob removed.\n"},
    {"appoint", cmd_appoint, "appoint a doctor as yours (patient)",
     "usage: medcrypt appoint DOCTOR [--json]\n"
     "\n"
     "Records on the server that DOCTOR (an enabled user of role doctor) is one of your doctors\n"
     "(docs/API.md section 16a). Appointing the same doctor again changes nothing. Only a patient\n"
     "may appoint; an unknown or disabled user exits 11, a user who is not a doctor 15.\n"
     "An appointed doctor may receive the images about you that technicians and other doctors\n"
     "send, and share them with other doctors you appointed (docs/API.md section 15).\n"
     "\n"
     "  --json             print the appointment as JSON (\"new\": false when it existed)\n"
     "\n"
     "examples:\n"
     "  medcrypt appoint drhouse\n"
     "  medcrypt appoint drhouse --json\n"},
    {"dismiss", cmd_dismiss, "dismiss one of your doctors (patient)",
     "usage: medcrypt dismiss DOCTOR [--yes] [--passphrase-fd N] [--json]\n"
     "\n"
     "Removes the appointment of DOCTOR. Asks for confirmation on the terminal unless --yes (or\n"
     "MEDCRYPT_ASSUME_YES=1) is given, then for your password (the server wants it again, as for\n"
     "a revocation). A doctor who is not appointed exits 11. The server deletes DOCTOR's wraps of\n"
     "every image about you (except those DOCTOR sent themself) and withdraws your consents to\n"
     "them; it says how many images DOCTOR can no longer download. What DOCTOR downloaded already\n"
     "stays with them.\n"
     "\n"
     "  --yes              do not ask for confirmation\n"
     "  --passphrase-fd N  read the password from file descriptor N (else MEDCRYPT_PASSPHRASE,\n"
     "                     else asked on the terminal)\n"
     "  --json             print {\"dismissed\": DOCTOR, \"wraps_deleted\": N}\n"
     "\n"
     "examples:\n"
     "  medcrypt dismiss drhouse --yes\n"},
    {"appointments", cmd_appointments, "list your doctors (patient) or your patients (doctor)",
     "usage: medcrypt appointments [--json]\n"
     "\n"
     "A patient sees the doctors they appointed, a doctor the patients who appointed them: user\n"
     "name, since when, display name (control characters shown as ?). Other roles exit 11.\n"
     "\n"
     "  --json             print the server's answer as JSON\n"
     "\n"
     "examples:\n"
     "  medcrypt appointments\n"
     "  medcrypt appointments --json\n"},
    {"consent", cmd_consent, "ask a patient for access to their images, or decide on a request",
     "usage: medcrypt consent request PATIENT [--study UID | --study-of FILE |\n"
     "                        --from YYYYMMDD --to YYYYMMDD]\n"
     "                        (--reason TEXT | --reason-file F) [--expires-in SECONDS]\n"
     "                        [--passphrase-fd N] [--json]\n"
     "       medcrypt consent list [--status S] [--passphrase-fd N] [--json]\n"
     "       medcrypt consent approve ID [--passphrase-fd N] [--json]\n"
     "       medcrypt consent deny ID [--json]\n"
     "       medcrypt consent withdraw ID [--json]\n"
     "\n"
     "A doctor asks a patient for access to the images about them (docs/API.md section 16c): all\n"
     "of them, one study (its StudyInstanceUID) or the studies of a date range (StudyDate, both\n"
     "ends included), with a reason. The request is sealed for the patient and the doctor and\n"
     "signed by the doctor: the server never reads the scope or the reason. It expires after\n"
     "--expires-in seconds (default 604800, 7 days; at most 90 days).\n"
     "\n"
     "Consent is given by the patient's own keys: 'approve' lists your images about yourself,\n"
     "opens their metadata here to choose those within the request, unwraps each one's file key\n"
     "with your key and wraps it for the doctor's current key from the directory (its fingerprint\n"
     "is shown), on every core, with progress on standard error, then sends the wraps at once. It\n"
     "asks for your password (the server wants it again, as for a share). Images sent after the\n"
     "approval are not covered: the doctor needs a new request. 'withdraw' by the patient takes\n"
     "an approved consent back (the doctor's wraps are deleted; what they downloaded stays with\n"
     "them); by the doctor, it cancels their own pending request. An expired, denied or withdrawn\n"
     "request cannot be decided on (exit 15).\n"
     "\n"
     "  request PATIENT      ask PATIENT (doctor); prints the consent ID\n"
     "  --study UID          only the images of this study (StudyInstanceUID)\n"
     "  --study-of FILE      only the images of the study of DICOM FILE (its UID read here)\n"
     "  --from D --to D      only the images whose StudyDate is within D..D (YYYYMMDD)\n"
     "  --reason TEXT        why (1 to 4096 bytes of UTF-8); --reason-file F reads it from F\n"
     "  --expires-in S       seconds the request stays open (1 to 7776000)\n"
     "  list                 your requests, as patient or as doctor, each opened for its scope\n"
     "                       and reason; --status pending|approved|denied|expired|withdrawn\n"
     "  approve ID           wrap the images within request ID for its doctor (patient)\n"
     "  deny ID              refuse request ID (patient)\n"
     "  withdraw ID          take an approval back (patient), or cancel a request (doctor)\n"
     "  --passphrase-fd N    read the key passphrase (approve: the password) from descriptor N\n"
     "  --json               print the consent as JSON\n"
     "\n"
     "examples:\n"
     "  medcrypt consent request pat1 --reason 'Second opinion on the knee MRI'\n"
     "  medcrypt consent request pat1 --from 20240101 --to 20241231 --reason-file why.txt\n"
     "  medcrypt consent request pat1 --study-of scan.dcm --reason 'Follow-up of the fracture'\n"
     "  medcrypt consent list\n"
     "  medcrypt consent approve 0123456789abcdef0123456789abcdef\n"
     "  medcrypt consent deny 0123456789abcdef0123456789abcdef\n"
     "  medcrypt consent withdraw 0123456789abcdef0123456789abcdef\n"},
    {"msg", cmd_msg, "send a sealed message to a user",
     "usage: medcrypt msg USER TEXT [--reply ID] [--image ID] [--passphrase-fd N] [--json]\n"
     "       medcrypt msg USER --file F [--reply ID] [--image ID] [--passphrase-fd N] [--json]\n"
     "\n"
     "Seals TEXT (or the contents of F, '-' for standard input: UTF-8, at most 64 KiB) for USER\n"
     "and for you, signed with your key, and sends it (docs/API.md section 16b). USER's keys are\n"
     "pinned in known_users on first use. The server sees who, to whom, when and how large, never\n"
     "the text. Who may talk: doctors with doctors and technicians, a patient with the doctors\n"
     "the patient appointed; anyone else exits 11. Prints the message ID.\n"
     "\n"
     "  --file F           the text from file F ('-': standard input) instead of TEXT\n"
     "  --reply ID         continue the thread of message ID (between the same two users)\n"
     "  --image ID         refer to image ID (one you can read; share it with USER separately)\n"
     "  --passphrase-fd N  read the key passphrase from file descriptor N\n"
     "  --json             print the server's answer as JSON\n"
     "\n"
     "examples:\n"
     "  medcrypt msg drwho 'Please look at the new scan'\n"
     "  echo 'Thanks, done.' | medcrypt msg tech --file - --reply 0123456789abcdef0123456789abcdef\n"},
    {"inbox", cmd_inbox, "list your messages, opening each for its first line",
     "usage: medcrypt inbox [--unread] [--thread ID] [--limit N] [--follow] [--passphrase-fd N] [--json]\n"
     "\n"
     "Lists the messages you sent and received, newest first: ID, date, the other user, read,\n"
     "unread or sent, and the first line of the text, which is decrypted and verified here (shown\n"
     "with control characters as ?). A message that does not open is listed with the reason.\n"
     "\n"
     "  --unread           only received messages not yet read\n"
     "  --thread ID        only the messages of thread ID\n"
     "  --limit N          at most N messages (default 50, at most 1000)\n"
     "  --passphrase-fd N  read the key passphrase from file descriptor N\n"
     "  --follow           then stay connected and print a line per new item as it arrives\n"
     "                     (GET /api/v1/events): a message opened here (sender, time, first\n"
     "                     line, ID), an image (ID and sender), a consent request or decision\n"
     "                     (ID: see 'medcrypt consent list'); reconnects after a dropped\n"
     "                     connection; Ctrl-C or SIGTERM ends it (exit 0), a session's end exits 10\n"
     "  --json             print the messages, with their text, as JSON (with --follow: one\n"
     "                     object per line, the listing's and then each new item's)\n"
     "\n"
     "examples:\n"
     "  medcrypt inbox\n"
     "  medcrypt inbox --unread --json\n"
     "  medcrypt inbox --unread --follow\n"},
    {"read", cmd_read, "open, verify and print a message, and mark it read",
     "usage: medcrypt read ID [--passphrase-fd N] [--json]\n"
     "\n"
     "Downloads message ID, opens it with your key, requires the sender's pinned signing key\n"
     "(a changed key exits 13, a bad signature 9, altered bytes 7 or 8), prints it and, when you\n"
     "are its recipient, marks it read. The text is shown with control characters as ?.\n"
     "\n"
     "  --passphrase-fd N  read the key passphrase from file descriptor N\n"
     "  --json             print the message and its text as JSON\n"
     "\n"
     "examples:\n"
     "  medcrypt read 0123456789abcdef0123456789abcdef\n"},
};

static void print_main_help(FILE *f)
{
	fprintf(f,
	        "medcrypt %s: end-to-end encryption of medical images and messages\n\n"
	        "usage: medcrypt COMMAND [OPTIONS] ...\n\ncommands:\n",
	        MC_VERSION_STRING);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'medcrypt COMMAND --help' describes a command. Passphrases are read from --passphrase-fd N,\n"
	           "the MEDCRYPT_PASSPHRASE environment variable or the terminal, never from arguments.\n\n"
	           "exit status: 0 ok, 1 I/O or internal error, 2 usage, 3 key (wrong passphrase, refused key),\n"
	           "4 not a valid sealed file, 5 unsupported version or algorithm, 6 not shared with this key,\n"
	           "7 header authentication failed, 8 payload altered or truncated, 9 bad or untrusted signature\n"
	           "(or an audit log that does not verify), 10 not logged in or session expired, 11 no such object\n"
	           "or not allowed, 12 locked or busy: try later, 13 server certificate or a user's key changed (or\n"
	           "server not trusted), 14 server unreachable or server error, 15 request refused by the server\n"
	           "(name taken, already shared, invalid)\n");
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
	json_use_wiping_alloc(); /* first: every jansson block is freed by it */
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
			fprintf(stderr, "medcrypt %s: %s: %s\n", argv[1], cli_status_name(st),
			        err.msg[0] ? err.msg : "failed");
		return exit_code(st);
	}
	fprintf(stderr, "medcrypt: unknown command '%s' (see 'medcrypt --help')\n", argv[1]);
	return 2;
}
