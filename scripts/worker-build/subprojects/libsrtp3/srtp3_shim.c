/*
 * libsrtp 3.x API subset (declared in include/srtp.h, see there for WHY) over libsrtp2 2.5.
 *
 * libsrtp2 protects in place with `int *` lengths and assumes it may write its
 * documented maximum trailer after the packet; the 3.x calls take separate in/out
 * buffers with a capacity. Each wrapper copies the input into the output buffer
 * (when they differ), checks the capacity against libsrtp2's contract, and runs the
 * 2.x call in place there. Keys go into a plain libsrtp2 policy (key || salt).
 */
#include "srtp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* From here on the plain names mean libsrtp2's own functions again. */
#undef srtp_create
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

srtp_err_status_t ghosttalk_srtp3_create(srtp_t *session, const srtp_policy_t policy)
{
    srtp2_policy_t p2;

    if (session == NULL || policy == NULL)
        return srtp_err_status_bad_param;
    if (!policy->profile_set || policy->key_len == 0 || policy->p2.ssrc.type == ssrc_undefined)
        return srtp_err_status_bad_param;
    /* libsrtp2 takes master key || salt as one buffer whose length is the cipher's key length. */
    if (policy->key_len != (size_t)policy->p2.rtp.cipher_key_len ||
        policy->key_len != (size_t)policy->p2.rtcp.cipher_key_len)
        return srtp_err_status_bad_param;

    p2 = policy->p2;
    p2.key = (unsigned char *)policy->key; /* libsrtp2 derives session keys now and keeps no pointer */
    p2.keys = NULL;
    p2.num_master_keys = 0;
    p2.deprecated_ekt = NULL;
    p2.enc_xtn_hdr = NULL;
    p2.enc_xtn_hdr_count = 0;
    p2.next = NULL;
    return srtp_create(session, &p2);
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
    status = srtp_protect(ctx, srtp, &len);
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
    status = srtp_unprotect(ctx, rtp, &len);
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
    status = srtp_protect_rtcp(ctx, srtcp, &len);
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
    status = srtp_unprotect_rtcp(ctx, rtcp, &len);
    if (status != srtp_err_status_ok)
        return status;
    *rtcp_len = (size_t)len;
    return srtp_err_status_ok;
}

srtp_err_status_t ghosttalk_srtp3_stream_remove(srtp_t session, uint32_t ssrc)
{
    return srtp_remove_stream(session, ssrc);
}
