/*
 * policy.c: the pool of endpoints a policy picks from, llm-d's scheduling cycle
 * (Produce -> profile handler -> per profile filters, weighted scorers, picker ->
 * PreRequest), and the request lifecycle events that release in-flight load.
 *
 * Workload: one fp_pick per request arrival over 1 to ~1,000 endpoints, with events at
 * first token and end of stream; pool changes (endpoints added, removed) are rare and
 * may cost O(endpoints). Per-pick buffers are sized once to the pool's capacity, so a
 * pick allocates nothing in the steady state.
 *
 * In-flight load is llm-d's inflight-load-producer, kept here because half the
 * plugins read it: at PreRequest every profile's first target gets one request and its
 * uncached prompt tokens, promptTokens * (1 - hit) by the prefix producer the
 * inflight config names (plus an output estimate with addEstimatedOutputTokens);
 * prompt tokens leave at the first streamed token, the rest at end of stream.
 *
 * DEVIATIONS from llm-d, on purpose: (1) index updates at PreRequest are synchronous
 * (llm-d runs them on a goroutine), so a decision is a function of the inputs alone;
 * (2) an endpoint leaving the pool is dropped from the prefix indexes at once (llm-d's
 * sweep runs every 2 minutes; until then the departed pod's entries only extend the
 * greedy walk); (3) the pool order of candidates is insertion order (llm-d iterates a
 * map), which the seeded tie-breaking then randomises the same way.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fp_internal.h"

enum { FP__MAX_CHARGED = 4 };

struct fp__reqrec {
    uint64_t id;
    bool used, prompt_released;
    uint8_t n;
    uint32_t ep[FP__MAX_CHARGED], gen[FP__MAX_CHARGED];
    int64_t prompt_tok[FP__MAX_CHARGED], out_tok[FP__MAX_CHARGED];
};

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static int set_err(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* ------------------------------------------------------------------ small helpers */

double fp__hit(const fp__prefix_src *s, uint32_t ep)
{
    if (s->total_blocks == 0)
        return 0.0;
    double h = fp__match(s, ep) / s->total_blocks;
    return h > 1.0 ? 1.0 : h;
}

int fp__prefix_begin(fp__prefix_src *s, size_t cap)
{
    size_t c1 = s->cap, c2 = s->cap;
    if (fp__grow((void **)&s->match, &c1, cap, sizeof *s->match) ||
        fp__grow((void **)&s->gen, &c2, cap, sizeof *s->gen))
        return -ENOMEM;
    s->cap = c1 < c2 ? c1 : c2;
    if (++s->cur_gen == 0) {              /* wrapped: invalidate every stamp */
        memset(s->gen, 0, s->cap * sizeof *s->gen);
        s->cur_gen = 1;
    }
    s->total_blocks = 0;
    return 0;
}

void fp__prefix_set(fp__prefix_src *s, uint32_t ep, double match)
{
    assert(ep < s->cap);
    s->gen[ep] = s->cur_gen;
    s->match[ep] = match;
}

void fp__prefix_fini(fp__prefix_src *s)
{
    free(s->match);
    free(s->gen);
}

const char *fp__label(const fp__ep *e, const char *key)
{
    for (size_t i = 0; i < e->nlabels; i++)
        if (strcmp(e->lkeys[i], key) == 0)
            return e->lvals[i];
    return NULL;
}

const char *fp__header(const fp_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (r->headers[i].name && strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

int fp__profile_find(const fp_policy *p, const char *name)
{
    for (size_t i = 0; i < p->nprofiles; i++)
        if (strcmp(p->profiles[i].name, name) == 0)
            return (int)i;
    return -1;
}

uint32_t fp__run_target(const fp__cycle *cy, const char *name)
{
    for (size_t i = 0; i < cy->nruns; i++)
        if (cy->runs[i].status == 0 && strcmp(cy->runs[i].profile, name) == 0)
            return cy->runs[i].targets[0];
    return FP__NIL;
}

uint32_t fp__primary_target(const fp__cycle *cy)
{
    if (cy->primary_run < 0 || cy->runs[cy->primary_run].status != 0)
        return FP__NIL;
    return cy->runs[cy->primary_run].targets[0];
}

uint32_t fp__uncached(fp__cycle *cy, uint32_t ep)
{
    fp_policy *p = cy->p;
    if (p->uncached_gen[ep] == p->gen)
        return p->uncached[ep];
    double hit = 0.0;
    if (p->inflight.prefix)
        hit = fp__hit((const fp__prefix_src *)p->inflight.prefix->self, ep);
    p->uncached[ep] = (uint32_t)llround(cy->prompt_tokens * (1.0 - hit));
    p->uncached_gen[ep] = p->gen;
    return p->uncached[ep];
}

int64_t fp__output_estimate(const fp_policy *p, const fp_request *r, uint32_t prompt_tokens)
{
    int64_t est = llround(prompt_tokens * 1.5);
    if (r->max_tokens > 0 && est > r->max_tokens)
        est = r->max_tokens;
    if (p->inflight.max_output >= 0 && est > p->inflight.max_output)
        est = p->inflight.max_output;
    return est;
}

/* ------------------------------------------------------------------ endpoint pool */

static size_t name_pos(const fp_policy *p, const char *name)
{
    size_t mask = p->names_cap - 1, i = mix(fp__hash_str(name)) & mask;
    while (p->names[i] != FP__NIL && strcmp(p->eps[p->names[i]].name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

static int names_grow(fp_policy *p)
{
    size_t ncap = p->names_cap ? p->names_cap * 2 : 64, ocap = p->names_cap;
    uint32_t *old = p->names, *t = malloc(ncap * sizeof *t);
    if (!t)
        return -ENOMEM;
    memset(t, 0xFF, ncap * sizeof *t);
    p->names = t;
    p->names_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i] != FP__NIL)
            p->names[name_pos(p, p->eps[old[i]].name)] = old[i];
    free(old);
    return 0;
}

static void names_delete(fp_policy *p, size_t i)
{
    size_t mask = p->names_cap - 1;
    for (size_t j = (i + 1) & mask; p->names[j] != FP__NIL; j = (j + 1) & mask) {
        size_t home = mix(fp__hash_str(p->eps[p->names[j]].name)) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            p->names[i] = p->names[j];
            i = j;
        }
    }
    p->names[i] = FP__NIL;
}

static unsigned role_bits(const char *role)
{
    static const struct { const char *v; unsigned bits; } roles[] = {
        { "encode", FP__ROLE_ENCODE },
        { "prefill", FP__ROLE_PREFILL },
        { "decode", FP__ROLE_DECODE },
        { "encode-prefill", FP__ROLE_ENCODE | FP__ROLE_PREFILL },
        { "prefill-decode", FP__ROLE_PREFILL | FP__ROLE_DECODE },
        { "both", FP__ROLE_PREFILL | FP__ROLE_DECODE },
        { "encode-prefill-decode", FP__ROLE_ENCODE | FP__ROLE_PREFILL | FP__ROLE_DECODE },
    };
    if (!role)
        return FP__ROLE_NONE;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i].v) == 0)
            return roles[i].bits;
    return FP__ROLE_OTHER;
}

static void ep_strings_free(fp__ep *e)
{
    for (size_t i = 0; i < e->nlabels; i++) {
        free(e->lkeys[i]);
        free(e->lvals[i]);
    }
    free(e->lkeys);
    free(e->lvals);
    free(e->name);
    free(e->address);
}

/* Copies a descriptor's strings into e (all or nothing). */
static int ep_copy(fp__ep *e, const fp_endpoint_desc *d)
{
    memset(e, 0, sizeof *e);
    e->name = strdup(d->name);
    e->address = strdup(d->address ? d->address : d->name);
    e->lkeys = calloc(d->nlabels + 1, sizeof *e->lkeys);
    e->lvals = calloc(d->nlabels + 1, sizeof *e->lvals);
    bool ok = e->name && e->address && e->lkeys && e->lvals;
    for (size_t i = 0; ok && i < d->nlabels; i++, e->nlabels++) {
        e->lkeys[i] = strdup(d->labels[i].key ? d->labels[i].key : "");
        e->lvals[i] = strdup(d->labels[i].value ? d->labels[i].value : "");
        ok = e->lkeys[i] && e->lvals[i];
    }
    if (!ok) {
        ep_strings_free(e);
        return -ENOMEM;
    }
    e->role = fp__label(e, "llm-d.ai/role");
    e->roles = role_bits(e->role);
    return 0;
}

/* Grows every array indexed by endpoint id to hold id `slot`. */
static int pool_reserve(fp_policy *p, size_t slot)
{
    size_t cap = p->cap, c2 = p->cap;
    if (fp__grow((void **)&p->eps, &cap, slot + 1, sizeof *p->eps) ||
        fp__grow((void **)&p->active, &c2, slot + 1, sizeof *p->active))
        return -ENOMEM;
    size_t c3 = p->cap;
    if (fp__grow((void **)&p->free_slots, &c3, slot + 1, sizeof *p->free_slots))
        return -ENOMEM;
    p->cap = cap < c2 ? (cap < c3 ? cap : c3) : (c2 < c3 ? c2 : c3);
    if ((p->nactive + 1) * 2 > p->names_cap && names_grow(p))
        return -ENOMEM;
    return 0;
}

int fp_endpoint_add(fp_policy *p, const fp_endpoint_desc *d, uint32_t *id, char **err)
{
    assert(p && d && id);
    if (!d->name || !*d->name)
        return set_err(err, fu_asprintf("endpoint without a name"), -EINVAL);
    if (p->names_cap && p->names[name_pos(p, d->name)] != FP__NIL)
        return set_err(err, fu_asprintf("endpoint '%s' is already in the pool", d->name), -EEXIST);
    uint32_t slot = p->nfree ? p->free_slots[p->nfree - 1] : (uint32_t)p->neps_slots;
    fp__ep e;
    if (pool_reserve(p, slot) || ep_copy(&e, d))
        return set_err(err, fu_asprintf("out of memory adding endpoint '%s'", d->name), -ENOMEM);
    e.generation = p->eps[slot].generation;
    e.used = true;
    p->eps[slot] = e;
    if (p->nfree && p->free_slots[p->nfree - 1] == slot)
        p->nfree--;
    else
        p->neps_slots++;
    p->names[name_pos(p, e.name)] = slot;
    p->active[p->nactive++] = slot;
    *id = slot;
    return 0;
}

void fp_endpoint_remove(fp_policy *p, uint32_t id)
{
    assert(p && id < p->neps_slots && p->eps[id].used);
    for (size_t i = 0; i < p->nplugins; i++)
        if (p->plugins[i]->ops->forget)
            p->plugins[i]->ops->forget(p->plugins[i]->self, id);
    names_delete(p, name_pos(p, p->eps[id].name));
    size_t k = 0;
    for (size_t i = 0; i < p->nactive; i++)
        if (p->active[i] != id)
            p->active[k++] = p->active[i];
    p->nactive = k;
    uint32_t gen = p->eps[id].generation + 1;
    ep_strings_free(&p->eps[id]);
    memset(&p->eps[id], 0, sizeof p->eps[id]);
    p->eps[id].generation = gen;
    p->free_slots[p->nfree++] = id;
}

void fp_endpoint_update(fp_policy *p, uint32_t id, const fp_metrics *m)
{
    assert(p && m && id < p->neps_slots && p->eps[id].used);
    p->eps[id].m = *m;
}

int fp_endpoint_find(const fp_policy *p, const char *name, uint32_t *id)
{
    assert(p && name && id);
    if (!p->names_cap)
        return -ENOENT;
    uint32_t slot = p->names[name_pos(p, name)];
    if (slot == FP__NIL)
        return -ENOENT;
    *id = slot;
    return 0;
}

void fp_endpoint_get(const fp_policy *p, uint32_t id, fp_endpoint_state *out)
{
    assert(p && out && id < p->neps_slots && p->eps[id].used);
    const fp__ep *e = &p->eps[id];
    *out = (fp_endpoint_state){ e->name, e->address, e->role, e->m, e->inflight_requests,
                                e->inflight_tokens };
}

size_t fp_endpoint_count(const fp_policy *p) { return p->nactive; }

size_t fp_session_token(const fp_policy *p, uint32_t id, char *buf, size_t len)
{
    assert(p && id < p->neps_slots && p->eps[id].used);
    return fp__base64(p->eps[id].name, strlen(p->eps[id].name), buf, len);
}

/* ------------------------------------------------------------------ requests in flight */

static size_t req_pos(const fp_policy *p, uint64_t id)
{
    size_t mask = p->reqs_cap - 1, i = mix(id) & mask;
    while (p->reqs[i].used && p->reqs[i].id != id)
        i = (i + 1) & mask;
    return i;
}

static int reqs_reserve(fp_policy *p)
{
    if ((p->nreqs + 1) * 2 <= p->reqs_cap)
        return 0;
    size_t ncap = p->reqs_cap ? p->reqs_cap * 2 : 256, ocap = p->reqs_cap;
    fp__reqrec *old = p->reqs, *t = calloc(ncap, sizeof *t);
    if (!t)
        return -ENOMEM;
    p->reqs = t;
    p->reqs_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].used)
            p->reqs[req_pos(p, old[i].id)] = old[i];
    free(old);
    return 0;
}

static void reqs_delete(fp_policy *p, size_t i)
{
    size_t mask = p->reqs_cap - 1;
    for (size_t j = (i + 1) & mask; p->reqs[j].used; j = (j + 1) & mask) {
        size_t home = mix(p->reqs[j].id) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            p->reqs[i] = p->reqs[j];
            i = j;
        }
    }
    p->reqs[i].used = false;
    p->nreqs--;
}

static bool rec_live(const fp_policy *p, const fp__reqrec *r, int k)
{
    return r->ep[k] < p->neps_slots && p->eps[r->ep[k]].used &&
           p->eps[r->ep[k]].generation == r->gen[k];
}

/* Charges the request to each successful run's first target (llm-d's PreRequest). */
static void charge(fp__cycle *cy, fp__reqrec *r)
{
    fp_policy *p = cy->p;
    int64_t out = p->inflight.add_output ? fp__output_estimate(p, cy->req, cy->prompt_tokens) : 0;
    for (size_t i = 0; i < cy->nruns && r->n < FP__MAX_CHARGED; i++) {
        if (cy->runs[i].status != 0)
            continue;
        uint32_t ep = cy->runs[i].targets[0];
        int k = r->n++;
        r->ep[k] = ep;
        r->gen[k] = p->eps[ep].generation;
        r->prompt_tok[k] = fp__uncached(cy, ep);
        r->out_tok[k] = out;
        p->eps[ep].inflight_requests++;
        p->eps[ep].inflight_tokens += r->prompt_tok[k] + out;
    }
}

int fp_request_first_token(fp_policy *p, uint64_t id, int64_t now)
{
    (void)now;
    if (!p->nreqs)
        return -ENOENT;
    fp__reqrec *r = &p->reqs[req_pos(p, id)];
    if (!r->used)
        return -ENOENT;
    for (int k = 0; k < r->n && !r->prompt_released; k++)
        if (rec_live(p, r, k))
            p->eps[r->ep[k]].inflight_tokens -= r->prompt_tok[k];
    r->prompt_released = true;
    return 0;
}

int fp_request_end(fp_policy *p, uint64_t id, int64_t now)
{
    (void)now;
    if (!p->nreqs)
        return -ENOENT;
    size_t at = req_pos(p, id);
    fp__reqrec *r = &p->reqs[at];
    if (!r->used)
        return -ENOENT;
    for (int k = 0; k < r->n; k++) {
        if (!rec_live(p, r, k))
            continue;
        fp__ep *e = &p->eps[r->ep[k]];
        e->inflight_requests--;
        e->inflight_tokens -= r->out_tok[k] + (r->prompt_released ? 0 : r->prompt_tok[k]);
    }
    reqs_delete(p, at);
    return 0;
}

/* ------------------------------------------------------------------ the cycle */

static uint32_t prompt_tokens(const fp_request *r)
{
    if (r->prompt_tokens > 0)
        return r->prompt_tokens;
    if (r->tokens && r->ntokens > 0)
        return (uint32_t)r->ntokens;
    if (r->text && r->text_len > 0)
        return (uint32_t)(r->text_len / 4);
    uint64_t sum = 0;
    for (size_t i = 0; r->segs && i < r->nsegs; i++)
        sum += r->segs[i].len;
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

/* Sizes the per-pick buffers to the pool's capacity. */
static int scratch_reserve(fp_policy *p)
{
    size_t cap = p->cap;
    if (p->scratch_cap >= cap && p->runs)
        return 0;
    void *a;
#define GROW(ptr, n)                                                                   \
    do {                                                                               \
        if (!(a = realloc((ptr), (n) * sizeof *(ptr))))                               \
            return -ENOMEM;                                                            \
        (ptr) = a;                                                                     \
    } while (0)
    GROW(p->tmp, cap);
    GROW(p->pickbuf, cap);
    GROW(p->uncached, cap);
    GROW(p->uncached_gen, cap);
    memset(p->uncached_gen, 0, cap * sizeof *p->uncached_gen);
    GROW(p->runs, p->nprofiles);
    for (size_t i = 0; i < p->nprofiles; i++) {
        fp__profile *pr = &p->profiles[i];
        GROW(pr->ids, cap);
        GROW(pr->scored, cap);
        GROW(pr->targets, cap);
    }
#undef GROW
    p->scratch_cap = cap;
    p->gen = 0;
    return 0;
}

static inline double clamp01(double x) { return x > 0.0 ? (x < 1.0 ? x : 1.0) : 0.0; }

int fp__run_profile(fp__cycle *cy, size_t prof)
{
    fp_policy *p = cy->p;
    fp__profile *pr = &p->profiles[prof];
    assert(cy->nruns < p->nprofiles);
    fp_profile_run *run = &cy->runs[cy->nruns];
    size_t n = cy->ncands;
    memcpy(pr->ids, cy->cands, n * sizeof *pr->ids);
    for (size_t f = 0; f < pr->nfilters && n > 0; f++)
        n = pr->filters[f]->ops->filter(pr->filters[f]->self, cy, pr->ids, n);
    *run = (fp_profile_run){ pr->name, 0, pr->scored, n, pr->targets, 0 };
    if (n == 0) {
        run->status = -ENOENT;
        free(cy->msg);
        cy->msg = fu_asprintf("profile '%s': no endpoint passed the filters", pr->name);
        cy->nruns++;
        return -ENOENT;
    }
    for (size_t i = 0; i < n; i++)
        pr->scored[i] = (fp_scored){ pr->ids[i], 0.0 };
    for (size_t s = 0; s < pr->nscorers; s++) {
        fp__plugin *sc = pr->scorers[s].plugin;
        double w = pr->scorers[s].weight;
        sc->ops->score(sc->self, cy, pr->ids, n, p->tmp);
        for (size_t i = 0; i < n; i++)
            pr->scored[i].score += w * clamp01(p->tmp[i]);
    }
    memcpy(p->pickbuf, pr->scored, n * sizeof *p->pickbuf);
    run->ntargets = pr->picker->ops->pick(pr->picker->self, cy, p->pickbuf, n, pr->targets);
    assert(run->ntargets >= 1);
    return (int)cy->nruns++;
}

static int produce(fp__cycle *cy)
{
    fp_policy *p = cy->p;
    for (size_t i = 0; i < p->nplugins; i++) {
        fp__plugin *pl = p->plugins[i];
        if (pl->ops->produce && pl->ops->produce(pl->self, cy))
            return -ENOMEM;
    }
    return 0;
}

static void pre_request(fp__cycle *cy)
{
    fp_policy *p = cy->p;
    for (size_t i = 0; i < p->nplugins; i++) {
        fp__plugin *pl = p->plugins[i];
        if (pl->ops->pre_request)
            pl->ops->pre_request(pl->self, cy);
    }
}

static void fill_result(fp__cycle *cy, fp_result *out)
{
    fp_policy *p = cy->p;
    uint32_t d = fp__primary_target(cy);
    *out = (fp_result){ .decode = d, .prefill = -1, .decode_address = p->eps[d].address,
                        .primary_profile = cy->runs[cy->primary_run].profile,
                        .runs = cy->runs, .nruns = cy->nruns };
    if (cy->prefill_run >= 0 && cy->runs[cy->prefill_run].status == 0) {
        uint32_t pf = cy->runs[cy->prefill_run].targets[0];
        out->prefill = pf;
        out->prefill_address = p->eps[pf].address;
    }
}

static int cycle_fail(fp__cycle *cy, int rc, char **err)
{
    char *msg = cy->msg ? cy->msg : fu_asprintf(rc == -ENOMEM ? "out of memory" : "no endpoint");
    cy->p->cy = NULL;
    return set_err(err, msg, rc);
}

int fp_pick(fp_policy *p, const fp_request *req, int64_t now, fp_rng *rng, fp_result *out,
            char **err)
{
    assert(p && req && rng && out && p->handler);
    *out = (fp_result){ .prefill = -1 };
    if (p->nreqs && p->reqs[req_pos(p, req->id)].used)
        return set_err(err, fu_asprintf("request %llu is already in flight",
                                        (unsigned long long)req->id), -EEXIST);
    if (p->nactive == 0)
        return set_err(err, fu_asprintf("no endpoint in the pool"), -ENOENT);
    if (scratch_reserve(p) || reqs_reserve(p))
        return set_err(err, fu_asprintf("out of memory"), -ENOMEM);
    fp__cycle cy = { .p = p, .req = req, .now = now, .rng = rng,
                     .prompt_tokens = prompt_tokens(req), .cands = p->active,
                     .ncands = p->nactive, .runs = p->runs, .primary_run = -1,
                     .prefill_run = -1 };
    p->cy = &cy;
    if (++p->gen == 0) {
        memset(p->uncached_gen, 0, p->scratch_cap * sizeof *p->uncached_gen);
        p->gen = 1;
    }
    int rc = produce(&cy);
    if (rc == 0)
        rc = p->handler->ops->handle(p->handler->self, &cy);
    if (rc == 0 && fp__primary_target(&cy) == FP__NIL)
        rc = -ENOENT;
    if (rc)
        return cycle_fail(&cy, rc, err);
    pre_request(&cy);
    fp__reqrec *r = &p->reqs[req_pos(p, req->id)];
    memset(r, 0, sizeof *r);
    r->used = true;
    r->id = req->id;
    p->nreqs++;
    charge(&cy, r);
    fill_result(&cy, out);
    free(cy.msg);
    p->cy = NULL;
    return 0;
}

/* ------------------------------------------------------------------ KV events */

int fp_kv_stored(fp_policy *p, uint32_t ep, const uint64_t *keys, size_t n, fp_tier tier)
{
    assert(p && ep < p->neps_slots && p->eps[ep].used && (keys || n == 0));
    return fp__kv_event(p, 0, ep, keys, n, tier);
}

void fp_kv_removed(fp_policy *p, uint32_t ep, const uint64_t *keys, size_t n, fp_tier tier)
{
    assert(p && ep < p->neps_slots && p->eps[ep].used && (keys || n == 0));
    fp__kv_event(p, 1, ep, keys, n, tier);
}

void fp_kv_cleared(fp_policy *p, uint32_t ep)
{
    assert(p && ep < p->neps_slots && p->eps[ep].used);
    fp__kv_event(p, 2, ep, NULL, 0, 0);
}

/* ------------------------------------------------------------------ teardown */

void fp_policy_free(fp_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nplugins; i++) {
        fp__plugin *pl = p->plugins[i];
        if (pl->ops->destroy)
            pl->ops->destroy(pl->self);
        free(pl->name);
        free(pl);
    }
    free(p->plugins);
    fp__profiles_free(p);
    for (size_t i = 0; i < p->neps_slots; i++)
        if (p->eps[i].used)
            ep_strings_free(&p->eps[i]);
    free(p->eps);
    free(p->active);
    free(p->free_slots);
    free(p->names);
    free(p->reqs);
    free(p->runs);
    free(p->tmp);
    free(p->pickbuf);
    free(p->uncached);
    free(p->uncached_gen);
    free(p);
}
