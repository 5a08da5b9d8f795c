/*
 * stream.c: the chunk pipeline of docs/FORMAT.md §7–8. The calling thread reads the input into
 * a ring of slots (16 chunks each) and writes finished slots out in order; worker threads (one
 * per CPU but one) and, between its reads and writes, the calling thread seal or open the
 * chunks of a slot and hash its ciphertext chunks ([MC-SIG-2]), sixteen at once where the CPU
 * allows (lib/hash/sha256_many.h), so the AEAD and SHA-256 together use every core without
 * more threads than cores. Memory is the ring, whatever the input size.
 *
 * The end of the payload is found by holding back bytes: when reading chunks, the last
 * trailer_len bytes of the stream (the signature, [MC-PAY-3]) are never handed to the
 * chunk code, and one byte more is read ahead so a full slot is known not to be the last.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "sha256_many.h"

#define SLOT_CHUNKS 16 /* MC_SHA256_MANY_MAX: one batch of chunk hashes a slot */
#define N_SLOTS     4
#define MAX_THREADS 8
#define MAX_TRAILER 1024

enum slot_state { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

struct slot {
	uint8_t *in; /* allocated on first use; a small input touches one slot only */
	size_t in_len;
	size_t in_peak; /* the most bytes ever held, to wipe */
	uint8_t *out;
	size_t out_len;
	size_t out_peak;
	uint64_t first_chunk;
	unsigned n_chunks;
	bool final;
	enum slot_state state;
	bool failed;
	uint64_t failed_chunk;
	uint8_t hashes[SLOT_CHUNKS][32];
};

struct engine {
	const mc_stream_params *p;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	pthread_cond_t done_cv;
	bool stop;
	struct slot slots[N_SLOTS];
	pthread_t threads[MAX_THREADS];
	unsigned n_threads;
	/* the hold-back reader */
	mc_input in;
	size_t trailer_len;
	uint8_t tail[MAX_TRAILER + 1];
	size_t tail_len;
};

struct worker {
	mc_chunk_ctx aead;
	bool has_aead;
};

static size_t in_unit(const struct engine *e)
{
	return e->p->encrypt ? FMT_CHUNK_PT : FMT_CHUNK_CT;
}
static size_t out_unit(const struct engine *e)
{
	return e->p->encrypt ? FMT_CHUNK_CT : FMT_CHUNK_PT;
}

/* H_i of every ciphertext chunk of the slot ([MC-SIG-2]): the full chunks together, sixteen
 * at a time on a CPU with AVX-512 (lib/hash/sha256_many.h), then a short last one. */
static bool hash_slot(struct slot *s, const uint8_t *ct, size_t ct_len)
{
	const uint8_t *msgs[SLOT_CHUNKS];
	unsigned n_full = 0;
	for (unsigned j = 0; j < s->n_chunks; j++) {
		msgs[j] = ct + (size_t)j * FMT_CHUNK_CT;
		if (ct_len - (size_t)j * FMT_CHUNK_CT >= FMT_CHUNK_CT)
			n_full++;
	}
	if (n_full && !mc_sha256_many(msgs, FMT_CHUNK_CT, n_full, s->hashes))
		return false;
	if (n_full < s->n_chunks) /* the last chunk, shorter than the rest */
		return mc_sha256_many(msgs + n_full, ct_len - (size_t)n_full * FMT_CHUNK_CT, 1, s->hashes + n_full);
	return true;
}

/* Seals or opens every chunk of one slot, and hashes their ciphertext. */
static void process_slot(struct engine *e, struct worker *w, struct slot *s)
{
	size_t iu = in_unit(e), ou = out_unit(e);
	bool hash = e->p->hash;
	s->out_len = 0;
	/* Opening hashes the ciphertext as it came in; a failure there is the first chunk's. */
	if (hash && !e->p->encrypt && !hash_slot(s, s->in, s->in_len)) {
		s->failed = true;
		s->failed_chunk = s->first_chunk;
		return;
	}
	for (unsigned j = 0; j < s->n_chunks; j++) {
		const uint8_t *src = s->in + (size_t)j * iu;
		size_t len = s->in_len - (size_t)j * iu;
		if (len > iu)
			len = iu;
		uint8_t *dst = s->out + (size_t)j * ou;
		uint64_t index = s->first_chunk + j;
		bool last = s->final && j + 1 == s->n_chunks;
		bool ok;
		if (e->p->encrypt) {
			ok = mc_chunk_crypt(&w->aead, index, last, src, len, dst);
			s->out_len += len + FMT_TAG_LEN;
		} else {
			ok = !w->has_aead || mc_chunk_crypt(&w->aead, index, last, src, len, dst);
			s->out_len += len - FMT_TAG_LEN;
		}
		if (s->out_len > s->out_peak)
			s->out_peak = s->out_len;
		if (!ok) {
			s->failed = true;
			s->failed_chunk = index;
			return;
		}
	}
	if (hash && e->p->encrypt && !hash_slot(s, s->out, s->out_len)) {
		s->failed = true;
		s->failed_chunk = s->first_chunk;
	}
}

static mc_status worker_init(struct engine *e, struct worker *w, mc_err *err)
{
	memset(w, 0, sizeof *w);
	if (e->p->key) {
		mc_status st = mc_chunk_ctx_init(&w->aead, e->p->cipher, e->p->key, e->p->encrypt, err);
		if (st != MC_OK)
			return st;
		w->has_aead = true;
	}
	return MC_OK;
}

static void worker_free(struct worker *w)
{
	if (w->has_aead)
		mc_chunk_ctx_free(&w->aead);
}

static void *worker_main(void *arg)
{
	struct engine *e = arg;
	struct worker w;
	bool ready = worker_init(e, &w, NULL) == MC_OK;
	pthread_mutex_lock(&e->mu);
	for (;;) {
		struct slot *s = NULL;
		while (!e->stop) {
			for (int i = 0; i < N_SLOTS && !s; i++)
				if (e->slots[i].state == SLOT_READY)
					s = &e->slots[i];
			if (s)
				break;
			pthread_cond_wait(&e->work_cv, &e->mu);
		}
		if (!s)
			break;
		s->state = SLOT_BUSY;
		pthread_mutex_unlock(&e->mu);
		if (ready) {
			process_slot(e, &w, s);
		} else {
			s->failed = true;
			s->failed_chunk = UINT64_MAX; /* marks a setup failure, not a bad chunk */
		}
		pthread_mutex_lock(&e->mu);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&e->done_cv);
	}
	pthread_mutex_unlock(&e->mu);
	if (ready)
		worker_free(&w);
	return NULL;
}

/*
 * Reads the next slot's input. Holds back trailer_len + 1 bytes so that a full slot is known
 * to be followed by payload, and at the end of the stream the held-back bytes are the trailer.
 */
static mc_status fill_slot(struct engine *e, struct slot *s, mc_stream_result *res, mc_err *err)
{
	size_t want = SLOT_CHUNKS * in_unit(e), reserve = e->trailer_len + 1, got = 0;
	if (!s->in && !(s->in = malloc(want + MAX_TRAILER + 1)))
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	if (!s->out && !(s->out = malloc(SLOT_CHUNKS * out_unit(e))))
		return mc_fail(err, MC_ERR_NOMEM, "out of memory");
	/* The wipe is accounted before the read: a read that fails midway has already put plaintext
	 * anywhere in the span it was given, and returns no count of it. */
	size_t peak = s->in_peak;
	if (want + reserve > s->in_peak)
		s->in_peak = want + reserve;
	memcpy(s->in, e->tail, e->tail_len);
	mc_status st = mc_read_full(e->in, s->in + e->tail_len, want + reserve - e->tail_len, &got, err);
	if (st != MC_OK)
		return st;
	got += e->tail_len;
	/* A read that succeeded wrote got bytes: the wipe stays with what the slot ever held. */
	s->in_peak = got > peak ? got : peak;
	if (got == want + reserve) {
		s->in_len = want;
		e->tail_len = reserve;
		memcpy(e->tail, s->in + want, reserve);
		s->final = false;
		return MC_OK;
	}
	s->final = true;
	e->tail_len = 0;
	if (got < e->trailer_len)
		return mc_fail(err, MC_ERR_PAYLOAD, "the file is truncated: it ends before its signature");
	s->in_len = got - e->trailer_len;
	memcpy(res->trailer, s->in + s->in_len, e->trailer_len);
	res->trailer_got = e->trailer_len;
	return MC_OK;
}

/* Cuts a filled slot into chunks, enforcing [MC-PAY-1], [MC-PAY-4] and [MC-PAY-6]. */
static mc_status plan_slot(struct engine *e, struct slot *s, uint64_t first_chunk, mc_err *err)
{
	size_t iu = in_unit(e);
	s->first_chunk = first_chunk;
	s->failed = false;
	if (!s->final) {
		s->n_chunks = SLOT_CHUNKS;
	} else if (s->in_len == 0) {
		if (!e->p->encrypt)
			return mc_fail(err, MC_ERR_PAYLOAD, "the payload is missing: the file is truncated");
		s->n_chunks = 1; /* the empty plaintext is one empty chunk */
	} else {
		s->n_chunks = (unsigned)((s->in_len + iu - 1) / iu);
		size_t last_len = s->in_len - (size_t)(s->n_chunks - 1) * iu;
		if (!e->p->encrypt && last_len < FMT_TAG_LEN)
			return mc_fail(err, MC_ERR_PAYLOAD,
			               "the last chunk is shorter than its tag: the file is truncated");
		if (!e->p->encrypt && last_len == FMT_TAG_LEN && first_chunk + s->n_chunks > 1)
			return mc_fail(err, MC_ERR_PAYLOAD, "an empty final chunk follows other chunks");
	}
	if (first_chunk + s->n_chunks > FMT_MAX_CHUNKS)
		return mc_fail(err, MC_ERR_PAYLOAD, "too many chunks (over 2^32)");
	return MC_OK;
}

/* Worker threads to start: one per CPU (or per p->threads) less the calling thread, which
 * seals or opens slots too whenever it is not reading or writing. */
static unsigned thread_count(const mc_stream_params *p)
{
	long n = p->threads ? (long)p->threads : sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	return (unsigned)n - 1;
}

static mc_status start_threads(struct engine *e, mc_err *err)
{
	unsigned want = thread_count(e->p);
	for (unsigned i = 0; i < want; i++) {
		if (pthread_create(&e->threads[i], NULL, worker_main, e) != 0)
			return e->n_threads ? MC_OK : mc_fail(err, MC_ERR_NOMEM, "cannot start worker threads");
		e->n_threads++;
	}
	return MC_OK;
}

static void stop_threads(struct engine *e)
{
	pthread_mutex_lock(&e->mu);
	e->stop = true;
	pthread_cond_broadcast(&e->work_cv);
	pthread_mutex_unlock(&e->mu);
	for (unsigned i = 0; i < e->n_threads; i++)
		pthread_join(e->threads[i], NULL);
	e->n_threads = 0;
}

static mc_status slot_failure(struct engine *e, const struct slot *s, mc_err *err)
{
	if (s->failed_chunk == UINT64_MAX)
		return mc_fail(err, MC_ERR_CRYPTO, "worker setup failed");
	if (e->p->encrypt)
		return mc_fail(err, MC_ERR_CRYPTO, "encryption of chunk %llu failed",
		               (unsigned long long)s->failed_chunk);
	return mc_fail(err, MC_ERR_PAYLOAD,
	               "chunk %llu does not authenticate: the payload was altered, truncated, reordered or extended",
	               (unsigned long long)s->failed_chunk);
}

mc_status mc_stream_run(const mc_stream_params *p, mc_input in, mc_output *out, mc_stream_result *res, mc_err *err)
{
	struct engine e;
	struct worker inline_worker;
	bool inline_ready = false;
	EVP_MD_CTX *digest = NULL;
	uint64_t seq_in = 0, seq_out = 0, next_chunk = 0;
	bool input_done = false;
	mc_status st = MC_OK;

	memset(res, 0, sizeof *res);
	if (p->trailer_len > MAX_TRAILER || (p->encrypt && p->trailer_len))
		return mc_fail(err, MC_ERR_MISUSE, "bad trailer length");
	memset(&e, 0, sizeof e);
	e.p = p;
	e.in = in;
	e.trailer_len = p->trailer_len;
	pthread_mutex_init(&e.mu, NULL);
	pthread_cond_init(&e.work_cv, NULL);
	pthread_cond_init(&e.done_cv, NULL);
	digest = EVP_MD_CTX_new();
	if (!digest || EVP_DigestInit_ex2(digest, EVP_sha256(), NULL) != 1) {
		st = mc_fail(err, MC_ERR_NOMEM, "out of memory");
		goto cleanup;
	}

	for (;;) {
		/* Keep every slot busy: read ahead while there is input and room. */
		while (!input_done && seq_in - seq_out < N_SLOTS) {
			struct slot *s = &e.slots[seq_in % N_SLOTS];
			if ((st = fill_slot(&e, s, res, err)) != MC_OK ||
			    (st = plan_slot(&e, s, next_chunk, err)) != MC_OK)
				goto cleanup;
			next_chunk += s->n_chunks;
			input_done = s->final;
			if (seq_in == 0 && s->final) {
				/* A small input: one slot, no threads to start. */
				if (!inline_ready && (st = worker_init(&e, &inline_worker, err)) != MC_OK)
					goto cleanup;
				inline_ready = true;
				process_slot(&e, &inline_worker, s);
				s->state = SLOT_DONE;
			} else {
				if (e.n_threads == 0 && (st = start_threads(&e, err)) != MC_OK)
					goto cleanup;
				pthread_mutex_lock(&e.mu);
				s->state = SLOT_READY;
				pthread_cond_signal(&e.work_cv);
				pthread_mutex_unlock(&e.mu);
			}
			seq_in++;
		}
		if (seq_out == seq_in)
			break;
		/* Write the oldest slot once it is done; until then, seal or open a waiting slot here
		 * (the oldest first), so this thread's core is not idle while the workers are busy. */
		struct slot *s = &e.slots[seq_out % N_SLOTS];
		pthread_mutex_lock(&e.mu);
		struct slot *own = NULL;
		for (uint64_t q = seq_out; q < seq_in && !own && s->state != SLOT_DONE; q++)
			if (e.slots[q % N_SLOTS].state == SLOT_READY)
				own = &e.slots[q % N_SLOTS];
		if (own) {
			own->state = SLOT_BUSY;
			pthread_mutex_unlock(&e.mu);
			if (!inline_ready && (st = worker_init(&e, &inline_worker, err)) != MC_OK) {
				pthread_mutex_lock(&e.mu);
				own->state = SLOT_READY; /* a worker may still take it; this thread fails */
				pthread_mutex_unlock(&e.mu);
				goto cleanup;
			}
			inline_ready = true;
			process_slot(&e, &inline_worker, own);
			pthread_mutex_lock(&e.mu);
			own->state = SLOT_DONE;
			pthread_mutex_unlock(&e.mu);
			continue; /* read ahead again before writing */
		}
		while (s->state != SLOT_DONE)
			pthread_cond_wait(&e.done_cv, &e.mu);
		pthread_mutex_unlock(&e.mu);
		if (s->failed) {
			st = slot_failure(&e, s, err);
			goto cleanup;
		}
		if (out && (st = mc_write(*out, s->out, s->out_len, err)) != MC_OK)
			goto cleanup;
		if (p->hash && EVP_DigestUpdate(digest, s->hashes, (size_t)s->n_chunks * 32) != 1) {
			st = mc_fail_ssl(err, MC_ERR_CRYPTO, "SHA-256 failed");
			goto cleanup;
		}
		res->n_chunks += s->n_chunks;
		res->plaintext_len += p->encrypt ? s->in_len : s->in_len - (size_t)s->n_chunks * FMT_TAG_LEN;
		pthread_mutex_lock(&e.mu);
		s->state = SLOT_FREE;
		pthread_mutex_unlock(&e.mu);
		seq_out++;
		if (p->progress && p->progress(p->progress_ctx, res->plaintext_len) != 0) {
			st = mc_fail(err, MC_ERR_CANCELLED, "cancelled");
			goto cleanup;
		}
	}
	unsigned int dlen = 0;
	if (EVP_DigestFinal_ex(digest, res->payload_digest, &dlen) != 1)
		st = mc_fail_ssl(err, MC_ERR_CRYPTO, "SHA-256 failed");

cleanup:
	stop_threads(&e);
	if (inline_ready)
		worker_free(&inline_worker);
	for (int i = 0; i < N_SLOTS; i++) {
		/* Only the bytes a slot ever held can hold plaintext. */
		mc_wipe(e.slots[i].in, e.slots[i].in_peak);
		free(e.slots[i].in);
		mc_wipe(e.slots[i].out, e.slots[i].out_peak);
		free(e.slots[i].out);
	}
	mc_wipe(e.tail, sizeof e.tail);
	EVP_MD_CTX_free(digest);
	pthread_cond_destroy(&e.work_cv);
	pthread_cond_destroy(&e.done_cv);
	pthread_mutex_destroy(&e.mu);
	return st;
}
