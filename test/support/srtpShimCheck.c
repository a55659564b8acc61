/*
 * Checks the worker's SRTP shim (scripts/worker-build/subprojects/libsrtp3/srtp3_shim.c)
 * against a real libsrtp2, as mediasoup drives it: an outbound session protecting many
 * SSRCs in turn and an inbound one unprotecting them, streams removed and made again,
 * replays and forgeries refused. It includes the shim's source to see its table; after
 * it the plain names mean libsrtp2's, so the shim's own are called by their names.
 *
 *   gcc -I<shim>/include srtpShimCheck.c -lsrtp2 && ./a.out   -> "ok ..." and exit 0
 */
#include "../../scripts/worker-build/subprojects/libsrtp3/srtp3_shim.c"

#include <arpa/inet.h>
#include <stdio.h>

#define SSRCS 50
#define ROUNDS 20
#define PAYLOAD 100

static int failures;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                          \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                        \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

static srtp_t make_session(srtp_ssrc_type_t type, const uint8_t *key, size_t key_len, size_t salt_len)
{
    srtp_policy_t policy;
    srtp_t session = NULL;
    srtp_ssrc_t ssrc = { .type = type, .value = 0 };
    CHECK(srtp_policy_create(&policy) == srtp_err_status_ok, "policy_create");
    CHECK(srtp_policy_set_ssrc(policy, ssrc) == srtp_err_status_ok, "set_ssrc");
    CHECK(srtp_policy_set_profile(policy, srtp_profile_aead_aes_256_gcm) == srtp_err_status_ok, "set_profile");
    CHECK(srtp_policy_add_key(policy, key, key_len, key + key_len, salt_len, NULL, 0) == srtp_err_status_ok,
          "add_key");
    CHECK(srtp_policy_set_window_size(policy, 1024) == srtp_err_status_ok, "window");
    CHECK(ghosttalk_srtp3_create(&session, policy) == srtp_err_status_ok, "create");
    srtp_policy_destroy(policy);
    return session;
}

static size_t rtp_packet(uint8_t *out, uint32_t ssrc, uint16_t seq)
{
    out[0] = 0x80;
    out[1] = 100;
    out[2] = (uint8_t)(seq >> 8);
    out[3] = (uint8_t)seq;
    memset(out + 4, 0, 4);
    out[8] = (uint8_t)(ssrc >> 24);
    out[9] = (uint8_t)(ssrc >> 16);
    out[10] = (uint8_t)(ssrc >> 8);
    out[11] = (uint8_t)ssrc;
    for (size_t i = 0; i < PAYLOAD; i++)
        out[12 + i] = (uint8_t)(ssrc + seq + i);
    return 12 + PAYLOAD;
}

static uint32_t ssrc_of(int i)
{
    return 0x1000u + (uint32_t)i * 7919u;
}

/* As the shim and libsrtp2 take it: in network byte order. */
static uint32_t wire_ssrc(int i)
{
    return htonl(ssrc_of(i));
}

/* Protects one packet of `ssrc` with `tx` and unprotects it with `rx`; 1 when it came through intact. */
static int round_trip(srtp_t tx, srtp_t rx, uint32_t ssrc, uint16_t seq, uint8_t *sealed, size_t *sealed_len)
{
    uint8_t plain[12 + PAYLOAD];
    uint8_t opened[12 + PAYLOAD + SRTP_MAX_TRAILER_LEN];
    size_t len = rtp_packet(plain, ssrc, seq);
    size_t out_len = 12 + PAYLOAD + SRTP_MAX_TRAILER_LEN;
    if (ghosttalk_srtp3_protect(tx, plain, len, sealed, &out_len, 0) != srtp_err_status_ok)
        return 0;
    *sealed_len = out_len;
    size_t open_len = sizeof(opened);
    if (ghosttalk_srtp3_unprotect(rx, sealed, out_len, opened, &open_len) != srtp_err_status_ok)
        return 0;
    return open_len == len && memcmp(opened, plain, len) == 0;
}

int main(void)
{
    uint8_t key[44];
    uint8_t sealed[12 + PAYLOAD + SRTP_MAX_TRAILER_LEN];
    size_t sealed_len = 0;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 37 + 11);
    CHECK(srtp_init() == srtp_err_status_ok, "srtp_init");

    srtp_t tx = make_session(ssrc_any_outbound, key, 32, 12);
    srtp_t rx = make_session(ssrc_any_inbound, key, 32, 12);
    struct ghosttalk_srtp3_session *txs = (struct ghosttalk_srtp3_session *)tx;
    struct ghosttalk_srtp3_session *rxs = (struct ghosttalk_srtp3_session *)rx;

    /* Many SSRCs in turn, as a transport's consumers send: the table grows past its first size. */
    int intact = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < SSRCS; i++)
            intact += round_trip(tx, rx, ssrc_of(i), (uint16_t)(1000 + r), sealed, &sealed_len);
    CHECK(intact == SSRCS * ROUNDS, "%d of %d packets came through intact", intact, SSRCS * ROUNDS);
    CHECK(txs->count == SSRCS && rxs->count == SSRCS, "one session per SSRC (%zu, %zu)", txs->count, rxs->count);

    /* A replay and a forgery are refused, and neither makes a session. */
    size_t open_len = sizeof(sealed);
    uint8_t copy[sizeof(sealed)];
    memcpy(copy, sealed, sealed_len);
    CHECK(ghosttalk_srtp3_unprotect(rx, copy, sealed_len, copy, &open_len) == srtp_err_status_replay_fail, "replay refused");
    uint8_t forged[sizeof(sealed)];
    memcpy(forged, sealed, sealed_len);
    forged[8] ^= 0x55; /* another SSRC: no session yet, and the tag does not match */
    open_len = sizeof(forged);
    CHECK(ghosttalk_srtp3_unprotect(rx, forged, sealed_len, forged, &open_len) == srtp_err_status_auth_fail,
          "forgery refused");
    CHECK(rxs->count == SSRCS, "a refused packet made no session (%zu)", rxs->count);

    /* Too short for an SSRC: refused before any lookup. */
    size_t short_len = sizeof(sealed);
    CHECK(ghosttalk_srtp3_protect(tx, sealed, 8, sealed, &short_len, 0) == srtp_err_status_bad_param, "short RTP refused");

    /* Remove every other SSRC: the others are still found (erasing kept the probe runs whole). */
    for (int i = 0; i < SSRCS; i += 2) {
        CHECK(ghosttalk_srtp3_stream_remove(tx, wire_ssrc(i)) == srtp_err_status_ok, "remove %d", i);
        CHECK(ghosttalk_srtp3_stream_remove(rx, wire_ssrc(i)) == srtp_err_status_ok, "remove %d (rx)", i);
    }
    CHECK(ghosttalk_srtp3_stream_remove(tx, wire_ssrc(0)) == srtp_err_status_no_ctx, "removing twice: no_ctx");
    for (int i = 0; i < SSRCS; i++) {
        int found = shim_find(txs, wire_ssrc(i)) != NULL;
        CHECK(found == (i % 2 == 1), "SSRC %d %s after removals", i, found ? "found" : "missing");
    }
    intact = 0;
    for (int i = 0; i < SSRCS; i++)
        intact += round_trip(tx, rx, ssrc_of(i), 2000, sealed, &sealed_len);
    CHECK(intact == SSRCS, "after removals %d of %d came through (removed ones start again)", intact, SSRCS);

    /* RTCP by its sender SSRC, through the same sessions. */
    uint8_t rtcp[8 + SRTP_MAX_TRAILER_LEN + 4] = { 0x80, 201, 0, 1 };
    rtcp[4] = 0;
    rtcp[5] = 0;
    rtcp[6] = 0x10;
    rtcp[7] = 0x01;
    size_t rtcp_len = sizeof(rtcp);
    CHECK(ghosttalk_srtp3_protect_rtcp(tx, rtcp, 8, rtcp, &rtcp_len, 0) == srtp_err_status_ok, "protect_rtcp");
    size_t plain_len = rtcp_len;
    CHECK(ghosttalk_srtp3_unprotect_rtcp(rx, rtcp, rtcp_len, rtcp, &plain_len) == srtp_err_status_ok && plain_len == 8,
          "unprotect_rtcp");

    CHECK(ghosttalk_srtp3_dealloc(tx) == srtp_err_status_ok, "dealloc tx");
    CHECK(ghosttalk_srtp3_dealloc(rx) == srtp_err_status_ok, "dealloc rx");
    CHECK(srtp_shutdown() == srtp_err_status_ok, "shutdown");
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("ok %d SSRCs x %d rounds\n", SSRCS, ROUNDS);
    return 0;
}
