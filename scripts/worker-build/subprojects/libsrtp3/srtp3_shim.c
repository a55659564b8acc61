/*
 * libsrtp 3.x API subset (declared in include/srtp.h, see there for WHY) over libsrtp2 2.5.
 *
 * libsrtp2 protects in place with `int *` lengths and assumes it may write its
 * documented maximum trailer after the packet; the 3.x calls take separate in/out
 * buffers with a capacity. Each wrapper copies the input into the output buffer
 * (when they differ), checks the capacity against libsrtp2's contract, and runs the
 * 2.x call in place there. Keys go into a plain libsrtp2 policy (key || salt).
 *
 * A session is one libsrtp2 session per SSRC (see "Sessions" below), because of how
 * libsrtp2 2.5 finds a packet's stream.
 */
#include "srtp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* From here on the plain names mean libsrtp2's own functions again. */
#undef srtp_create
#undef srtp_dealloc
#undef srtp_protect
#undef srtp_unprotect
#undef srtp_protect_rtcp
#undef srtp_unprotect_rtcp

/* Room libsrtp2 documents it may write after a packet: srtp_protect() / srtp_protect_rtcp(). */
#define SHIM_RTP_SLACK ((size_t)SRTP_MAX_TRAILER_LEN)
#define SHIM_RTCP_SLACK ((size_t)SRTP_MAX_TRAILER_LEN + 4)

struct ghosttalk_srtp3_policy {
    srtp2_policy_t p2;                  /* the libsrtp2 policy being assembled */
    bool profile_set;                   /* srtp_policy_set_profile() succeeded */
    size_t key_len;                     /* bytes of master key || salt in key[] */
    unsigned char key[SRTP_MAX_KEY_LEN];
};

srtp_err_status_t ghosttalk_srtp3_policy_create(srtp_policy_t *policy)
{
    struct ghosttalk_srtp3_policy *pol;

    if (policy == NULL)
        return srtp_err_status_bad_param;
    *policy = NULL;
    pol = calloc(1, sizeof(*pol));
    if (pol == NULL)
        return srtp_err_status_alloc_fail;
    pol->p2.ssrc.type = ssrc_undefined;
    *policy = pol;
    return srtp_err_status_ok;
}

void ghosttalk_srtp3_policy_destroy(srtp_policy_t policy)
{
    if (policy == NULL)
        return;
    /* Do not leave key material in freed memory. */
    explicit_bzero(policy->key, sizeof(policy->key));
    free(policy);
}

srtp_err_status_t ghosttalk_srtp3_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc)
{
    if (policy == NULL)
        return srtp_err_status_bad_param;
    if (ssrc.type != ssrc_specific && ssrc.type != ssrc_any_inbound && ssrc.type != ssrc_any_outbound)
        return srtp_err_status_bad_param;
    policy->p2.ssrc = ssrc;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile)
{
    srtp_err_status_t status;

    if (policy == NULL)
        return srtp_err_status_bad_param;
    policy->profile_set = false;
    status = srtp_crypto_policy_set_from_profile_for_rtp(&policy->p2.rtp, profile);
    if (status != srtp_err_status_ok)
        return status;
    status = srtp_crypto_policy_set_from_profile_for_rtcp(&policy->p2.rtcp, profile);
    if (status != srtp_err_status_ok)
        return status;
    policy->profile_set = true;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_policy_add_key(srtp_policy_t policy,
                                                 const uint8_t *key,
                                                 size_t key_len,
                                                 const uint8_t *salt,
                                                 size_t salt_len,
                                                 const uint8_t *mki,
                                                 size_t mki_len)
{
    (void)mki;
    if (policy == NULL || key == NULL || key_len == 0 || (salt == NULL && salt_len != 0))
        return srtp_err_status_bad_param;
    /* One key without MKI only: enough for DTLS-SRTP, which is all mediasoup does. */
    if (mki_len != 0 || policy->key_len != 0)
        return srtp_err_status_bad_param;
    if (key_len > sizeof(policy->key) || salt_len > sizeof(policy->key) - key_len)
        return srtp_err_status_bad_param;
    memcpy(policy->key, key, key_len);
    if (salt_len != 0)
        memcpy(policy->key + key_len, salt, salt_len);
    policy->key_len = key_len + salt_len;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow)
{
    if (policy == NULL)
        return srtp_err_status_bad_param;
    policy->p2.allow_repeat_tx = allow ? 1 : 0;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_policy_set_window_size(srtp_policy_t policy, size_t window_size)
{
    /* Same bounds libsrtp2 enforces in srtp_create() (0 = its default of 128). */
    if (policy == NULL || (window_size != 0 && (window_size < 64 || window_size >= 0x8000)))
        return srtp_err_status_bad_param;
    policy->p2.window_size = (unsigned long)window_size;
    return srtp_err_status_ok;
}

/*
 * Sessions. libsrtp2 2.5 finds a packet's stream by walking a linked list of its
 * session's streams, a cache miss per stream passed, and mediasoup sends every consumer
 * of a transport through one session: in a room of N each packet walked about N/2
 * streams (perf: srtp_stream_list_get took 8 % of the worker in rooms of 10). Here a
 * session is a table from SSRC to a libsrtp2 session that holds that SSRC's stream
 * alone, made from the same policy and key on the SSRC's first packet, as libsrtp2
 * clones its template: keys, rollover counters and replay windows are as they were.
 * A new SSRC is tried on a spare session, which joins the table only once a packet
 * passes (an unprotect that fails authentication allocates nothing).
 */
struct shim_slot {
    uint32_t ssrc;  /* network byte order, as in the packet */
    srtp_t session; /* NULL: empty */
};

struct ghosttalk_srtp3_session {
    srtp2_policy_t p2; /* .key points at key[] */
    unsigned char key[SRTP_MAX_KEY_LEN];
    struct shim_slot *slots; /* open addressing, linear probing */
    size_t mask;             /* capacity - 1; capacity is a power of two */
    size_t count;
    srtp_t spare;
};

#define SHIM_INITIAL_SLOTS 8

static size_t shim_home(uint32_t ssrc, size_t mask)
{
    return (size_t)(((uint64_t)ssrc * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static struct shim_slot *shim_find(struct ghosttalk_srtp3_session *shim, uint32_t ssrc)
{
    for (size_t i = shim_home(ssrc, shim->mask);; i = (i + 1) & shim->mask) {
        if (shim->slots[i].session == NULL)
            return NULL;
        if (shim->slots[i].ssrc == ssrc)
            return &shim->slots[i];
    }
}

static void shim_place(struct shim_slot *slots, size_t mask, uint32_t ssrc, srtp_t session)
{
    size_t i = shim_home(ssrc, mask);
    while (slots[i].session != NULL)
        i = (i + 1) & mask;
    slots[i].ssrc = ssrc;
    slots[i].session = session;
}

/* Keeps the table at most half full. */
static srtp_err_status_t shim_insert(struct ghosttalk_srtp3_session *shim, uint32_t ssrc, srtp_t session)
{
    if ((shim->count + 1) * 2 > shim->mask + 1) {
        size_t capacity = (shim->mask + 1) * 2;
        struct shim_slot *slots = calloc(capacity, sizeof(*slots));
        if (slots == NULL)
            return srtp_err_status_alloc_fail;
        for (size_t i = 0; i <= shim->mask; i++) {
            if (shim->slots[i].session != NULL)
                shim_place(slots, capacity - 1, shim->slots[i].ssrc, shim->slots[i].session);
        }
        free(shim->slots);
        shim->slots = slots;
        shim->mask = capacity - 1;
    }
    shim_place(shim->slots, shim->mask, ssrc, session);
    shim->count++;
    return srtp_err_status_ok;
}

/* Empties slot i and shifts later entries of its probe run back (no tombstones). */
static void shim_erase(struct ghosttalk_srtp3_session *shim, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & shim->mask;
        if (shim->slots[j].session == NULL)
            break;
        size_t home = shim_home(shim->slots[j].ssrc, shim->mask);
        /* Entry j may fill the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            shim->slots[i] = shim->slots[j];
            i = j;
        }
    }
    shim->slots[i].session = NULL;
    shim->count--;
}

/* The session for `ssrc`, or the spare (then *fresh is set) for one not seen yet. */
static srtp_err_status_t shim_session_for(struct ghosttalk_srtp3_session *shim,
                                          uint32_t ssrc,
                                          srtp_t *session,
                                          bool *fresh)
{
    struct shim_slot *slot = shim_find(shim, ssrc);
    *fresh = slot == NULL;
    if (slot != NULL) {
        *session = slot->session;
        return srtp_err_status_ok;
    }
    if (shim->spare == NULL) {
        srtp_err_status_t status = srtp_create(&shim->spare, &shim->p2);
        if (status != srtp_err_status_ok) {
            shim->spare = NULL;
            return status;
        }
    }
    *session = shim->spare;
    return srtp_err_status_ok;
}

/* After a packet of a new SSRC passed on the spare: the spare becomes that SSRC's session. */
static srtp_err_status_t shim_adopt_spare(struct ghosttalk_srtp3_session *shim, uint32_t ssrc)
{
    srtp_err_status_t status = shim_insert(shim, ssrc, shim->spare);
    if (status == srtp_err_status_ok)
        shim->spare = NULL;
    return status;
}

static uint32_t shim_ssrc_at(const uint8_t *packet, size_t offset)
{
    uint32_t ssrc;
    memcpy(&ssrc, packet + offset, sizeof(ssrc));
    return ssrc;
}

srtp_err_status_t ghosttalk_srtp3_create(srtp_t *session, const srtp_policy_t policy)
{
    struct ghosttalk_srtp3_session *shim;
    srtp_err_status_t status;

    if (session == NULL || policy == NULL)
        return srtp_err_status_bad_param;
    *session = NULL;
    if (!policy->profile_set || policy->key_len == 0 || policy->p2.ssrc.type == ssrc_undefined)
        return srtp_err_status_bad_param;
    /* libsrtp2 takes master key || salt as one buffer whose length is the cipher's key length. */
    if (policy->key_len != (size_t)policy->p2.rtp.cipher_key_len ||
        policy->key_len != (size_t)policy->p2.rtcp.cipher_key_len)
        return srtp_err_status_bad_param;

    shim = calloc(1, sizeof(*shim));
    if (shim == NULL)
        return srtp_err_status_alloc_fail;
    shim->slots = calloc(SHIM_INITIAL_SLOTS, sizeof(*shim->slots));
    if (shim->slots == NULL) {
        free(shim);
        return srtp_err_status_alloc_fail;
    }
    shim->mask = SHIM_INITIAL_SLOTS - 1;
    memcpy(shim->key, policy->key, policy->key_len);
    shim->p2 = policy->p2;
    shim->p2.key = shim->key; /* libsrtp2 derives session keys at srtp_create and keeps no pointer */
    shim->p2.keys = NULL;
    shim->p2.num_master_keys = 0;
    shim->p2.deprecated_ekt = NULL;
    shim->p2.enc_xtn_hdr = NULL;
    shim->p2.enc_xtn_hdr_count = 0;
    shim->p2.next = NULL;
    /* The first spare now, so that a policy libsrtp2 refuses fails here, as it did. */
    status = srtp_create(&shim->spare, &shim->p2);
    if (status != srtp_err_status_ok) {
        explicit_bzero(shim->key, sizeof(shim->key));
        free(shim->slots);
        free(shim);
        return status;
    }
    *session = (srtp_t)shim;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_dealloc(srtp_t session)
{
    struct ghosttalk_srtp3_session *shim = (struct ghosttalk_srtp3_session *)session;
    srtp_err_status_t result = srtp_err_status_ok;

    if (shim == NULL)
        return srtp_err_status_bad_param;
    for (size_t i = 0; i <= shim->mask; i++) {
        if (shim->slots[i].session != NULL) {
            srtp_err_status_t status = srtp_dealloc(shim->slots[i].session);
            if (status != srtp_err_status_ok && result == srtp_err_status_ok)
                result = status;
        }
    }
    if (shim->spare != NULL) {
        srtp_err_status_t status = srtp_dealloc(shim->spare);
        if (status != srtp_err_status_ok && result == srtp_err_status_ok)
            result = status;
    }
    explicit_bzero(shim->key, sizeof(shim->key));
    free(shim->slots);
    free(shim);
    return result;
}

/* Puts `in` at the start of `out` (capacity `out_cap`), leaving `slack` writable bytes after it. */
static srtp_err_status_t shim_stage(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t slack)
{
    if (in == NULL || out == NULL || in_len > (size_t)INT_MAX)
        return srtp_err_status_bad_param;
    if (out_cap < in_len || out_cap - in_len < slack)
        return srtp_err_status_buffer_small;
    if (out != in)
        memmove(out, in, in_len);
    return srtp_err_status_ok;
}

/* Where the SSRC is: RTP header bytes 8-11; RTCP (the first packet of a compound) bytes 4-7. */
#define SHIM_RTP_SSRC_OFFSET 8
#define SHIM_RTCP_SSRC_OFFSET 4

/* Runs one libsrtp2 call in place on the session of the packet's SSRC. */
static srtp_err_status_t shim_run(srtp_t ctx,
                                  uint8_t *packet,
                                  int *len,
                                  size_t ssrc_offset,
                                  srtp_err_status_t (*call)(srtp_t, void *, int *))
{
    struct ghosttalk_srtp3_session *shim = (struct ghosttalk_srtp3_session *)ctx;
    srtp_err_status_t status;
    srtp_t session;
    uint32_t ssrc;
    bool fresh;

    /* libsrtp2 refuses packets shorter than their fixed header the same way. */
    if (*len < (int)(ssrc_offset + sizeof(ssrc)))
        return srtp_err_status_bad_param;
    ssrc = shim_ssrc_at(packet, ssrc_offset);
    status = shim_session_for(shim, ssrc, &session, &fresh);
    if (status != srtp_err_status_ok)
        return status;
    status = call(session, packet, len);
    if (status == srtp_err_status_ok && fresh)
        status = shim_adopt_spare(shim, ssrc);
    return status;
}

/* mki_index is ignored: keys never carry an MKI here (see ghosttalk_srtp3_policy_add_key). */
srtp_err_status_t ghosttalk_srtp3_protect(srtp_t ctx,
                                          const uint8_t *rtp,
                                          size_t rtp_len,
                                          uint8_t *srtp,
                                          size_t *srtp_len,
                                          size_t mki_index)
{
    srtp_err_status_t status;
    int len;

    (void)mki_index;
    if (ctx == NULL || srtp_len == NULL)
        return srtp_err_status_bad_param;
    status = shim_stage(rtp, rtp_len, srtp, *srtp_len, SHIM_RTP_SLACK);
    if (status != srtp_err_status_ok)
        return status;
    len = (int)rtp_len;
    status = shim_run(ctx, srtp, &len, SHIM_RTP_SSRC_OFFSET, srtp_protect);
    if (status != srtp_err_status_ok)
        return status;
    *srtp_len = (size_t)len;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_unprotect(srtp_t ctx,
                                            const uint8_t *srtp,
                                            size_t srtp_len,
                                            uint8_t *rtp,
                                            size_t *rtp_len)
{
    srtp_err_status_t status;
    int len;

    if (ctx == NULL || rtp_len == NULL)
        return srtp_err_status_bad_param;
    status = shim_stage(srtp, srtp_len, rtp, *rtp_len, 0);
    if (status != srtp_err_status_ok)
        return status;
    len = (int)srtp_len;
    status = shim_run(ctx, rtp, &len, SHIM_RTP_SSRC_OFFSET, srtp_unprotect);
    if (status != srtp_err_status_ok)
        return status;
    *rtp_len = (size_t)len;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_protect_rtcp(srtp_t ctx,
                                               const uint8_t *rtcp,
                                               size_t rtcp_len,
                                               uint8_t *srtcp,
                                               size_t *srtcp_len,
                                               size_t mki_index)
{
    srtp_err_status_t status;
    int len;

    (void)mki_index;
    if (ctx == NULL || srtcp_len == NULL)
        return srtp_err_status_bad_param;
    status = shim_stage(rtcp, rtcp_len, srtcp, *srtcp_len, SHIM_RTCP_SLACK);
    if (status != srtp_err_status_ok)
        return status;
    len = (int)rtcp_len;
    status = shim_run(ctx, srtcp, &len, SHIM_RTCP_SSRC_OFFSET, srtp_protect_rtcp);
    if (status != srtp_err_status_ok)
        return status;
    *srtcp_len = (size_t)len;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_unprotect_rtcp(srtp_t ctx,
                                                 const uint8_t *srtcp,
                                                 size_t srtcp_len,
                                                 uint8_t *rtcp,
                                                 size_t *rtcp_len)
{
    srtp_err_status_t status;
    int len;

    if (ctx == NULL || rtcp_len == NULL)
        return srtp_err_status_bad_param;
    status = shim_stage(srtcp, srtcp_len, rtcp, *rtcp_len, 0);
    if (status != srtp_err_status_ok)
        return status;
    len = (int)srtcp_len;
    status = shim_run(ctx, rtcp, &len, SHIM_RTCP_SSRC_OFFSET, srtp_unprotect_rtcp);
    if (status != srtp_err_status_ok)
        return status;
    *rtcp_len = (size_t)len;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_stream_remove(srtp_t session, uint32_t ssrc)
{
    struct ghosttalk_srtp3_session *shim = (struct ghosttalk_srtp3_session *)session;
    struct shim_slot *slot;
    srtp_err_status_t status;

    if (shim == NULL)
        return srtp_err_status_bad_param;
    slot = shim_find(shim, ssrc);
    if (slot == NULL)
        return srtp_err_status_no_ctx; /* as libsrtp2 answers for a stream it does not have */
    status = srtp_dealloc(slot->session);
    shim_erase(shim, (size_t)(slot - shim->slots));
    return status;
}
