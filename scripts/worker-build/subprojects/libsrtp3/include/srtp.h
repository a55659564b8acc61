/*
 * libsrtp 3.x API subset used by mediasoup's worker (src/RTC/SrtpSession.cpp,
 * src/DepLibSRTP.cpp), implemented in srtp3_shim.c over Debian's libsrtp2 2.5.
 *
 * WHY: mediasoup builds against a libsrtp 3.0-beta fork that no distribution
 * packages; libsrtp2 has the same crypto and wire format, only the C API differs
 * (opaque policy handle, separate in/out buffers, size_t lengths).
 *
 * Everything libsrtp2 declares with the same meaning (srtp_t, srtp_err_status_t,
 * srtp_ssrc_t, srtp_profile_t, events, srtp_init/shutdown, ...) is used as it is;
 * srtp_dealloc is the shim's too, as its sessions are (see srtp3_shim.c). The 3.x functions are macros onto ghosttalk_srtp3_* symbols, so they never
 * clash with libsrtp2's own srtp_protect() & co at compile or link time.
 */
#ifndef GHOSTTALK_SRTP3_SHIM_SRTP_H
#define GHOSTTALK_SRTP3_SHIM_SRTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libsrtp2's srtp_policy_t is a struct; in 3.x it is an opaque handle: rename the 2.x one away. */
#define srtp_policy_t srtp2_policy_t
#include <srtp2/srtp.h>
#undef srtp_policy_t

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes 3.x added after libsrtp2's last one (srtp_err_status_pkt_idx_adv = 27); same values as 3.x. */
#define srtp_err_status_buffer_small ((srtp_err_status_t)28)
#define srtp_err_status_cryptex_err ((srtp_err_status_t)29)

typedef struct ghosttalk_srtp3_policy *srtp_policy_t;

#define srtp_policy_create ghosttalk_srtp3_policy_create
#define srtp_policy_destroy ghosttalk_srtp3_policy_destroy
#define srtp_policy_set_ssrc ghosttalk_srtp3_policy_set_ssrc
#define srtp_policy_set_profile ghosttalk_srtp3_policy_set_profile
#define srtp_policy_add_key ghosttalk_srtp3_policy_add_key
#define srtp_policy_set_allow_repeat_tx ghosttalk_srtp3_policy_set_allow_repeat_tx
#define srtp_policy_set_window_size ghosttalk_srtp3_policy_set_window_size
#define srtp_create ghosttalk_srtp3_create
#define srtp_dealloc ghosttalk_srtp3_dealloc
#define srtp_protect ghosttalk_srtp3_protect
#define srtp_unprotect ghosttalk_srtp3_unprotect
#define srtp_protect_rtcp ghosttalk_srtp3_protect_rtcp
#define srtp_unprotect_rtcp ghosttalk_srtp3_unprotect_rtcp
#define srtp_stream_remove ghosttalk_srtp3_stream_remove

srtp_err_status_t srtp_policy_create(srtp_policy_t *policy);
void srtp_policy_destroy(srtp_policy_t policy);
srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc);
srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile);
/* MKIs are not supported by this shim (mediasoup never uses them): mki must be NULL / mki_len 0. */
srtp_err_status_t srtp_policy_add_key(srtp_policy_t policy,
                                      const uint8_t *key,
                                      size_t key_len,
                                      const uint8_t *salt,
                                      size_t salt_len,
                                      const uint8_t *mki,
                                      size_t mki_len);
srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow);
srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t window_size);

srtp_err_status_t srtp_create(srtp_t *session, const srtp_policy_t policy);
srtp_err_status_t srtp_dealloc(srtp_t session);

/* *srtp_len / *rtp_len: capacity of the output buffer on input, resulting length on output. in == out is allowed. */
srtp_err_status_t srtp_protect(srtp_t ctx,
                               const uint8_t *rtp,
                               size_t rtp_len,
                               uint8_t *srtp,
                               size_t *srtp_len,
                               size_t mki_index);
srtp_err_status_t srtp_unprotect(srtp_t ctx,
                                 const uint8_t *srtp,
                                 size_t srtp_len,
                                 uint8_t *rtp,
                                 size_t *rtp_len);
srtp_err_status_t srtp_protect_rtcp(srtp_t ctx,
                                    const uint8_t *rtcp,
                                    size_t rtcp_len,
                                    uint8_t *srtcp,
                                    size_t *srtcp_len,
                                    size_t mki_index);
srtp_err_status_t srtp_unprotect_rtcp(srtp_t ctx,
                                      const uint8_t *srtcp,
                                      size_t srtcp_len,
                                      uint8_t *rtcp,
                                      size_t *rtcp_len);

/* ssrc in network byte order, as in both 2.x and 3.x. */
srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc);

#ifdef __cplusplus
}
#endif

#endif /* GHOSTTALK_SRTP3_SHIM_SRTP_H */
