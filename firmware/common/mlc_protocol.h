/* mlc serial protocol: the framing every board speaks (codegen/device/protocol.py is the host side).
 *
 * frame = SYNC0 SYNC1 TYPE SEQ LEN_LO LEN_HI PAYLOAD[LEN] CRC_LO CRC_HI
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over TYPE..PAYLOAD. Text lines (ASCII only, so they never
 * contain SYNC0) may be sent between frames, never inside one.
 */
#ifndef MLC_PROTOCOL_H
#define MLC_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLC_PROTOCOL_VERSION 1u
#define MLC_SYNC0 0xA5u
#define MLC_SYNC1 0x5Au
#define MLC_HEADER_BYTES 6u
#define MLC_CRC_BYTES 2u
#define MLC_FRAME_OVERHEAD (MLC_HEADER_BYTES + MLC_CRC_BYTES)
#define MLC_CRC_INIT 0xFFFFu
/* Cycle count reported by boards without a cycle counter (never a made-up figure). */
#define MLC_CYCLES_NONE 0xFFFFFFFFul

enum mlc_msg_type {
    MLC_MSG_INFO_REQUEST = 0x01,   /* empty payload */
    MLC_MSG_INVOKE_REQUEST = 0x02, /* payload: the input tensors, back to back in the model's order */
    MLC_MSG_SAMPLES = 0x03,        /* streaming apps: u32 index of the first sample frame, then int16 LE
                                      samples, channels interleaved, whole sample frames */
    MLC_MSG_STREAM_RESET = 0x04,   /* empty; back to the state after power-on (streaming apps; the classify app resets the model's state) */
    MLC_MSG_INFO = 0x81,           /* u8 version, u8 cycle counter, u16 in bytes, u16 out bytes, model name */
    MLC_MSG_RESULT = 0x82,         /* u32 cycles (MLC_CYCLES_NONE if unknown), then the output tensors, back to
                                      back in the model's order */
    MLC_MSG_SAMPLES_ACK = 0x83,    /* u32 sample frames consumed since reset; ends the answer to SAMPLES/RESET */
    MLC_MSG_RECORD = 0x84,         /* one app record (a window, a feature frame, an inference): u32 record
                                      index, then the app's fields; sent with the SAMPLES request's seq */
    MLC_MSG_ERROR = 0xEE           /* u8 mlc_error_code */
};

enum mlc_error_code {
    MLC_ERR_CRC = 1,
    MLC_ERR_LENGTH = 2,  /* longer than the receive buffer, or not the input size */
    MLC_ERR_TYPE = 3,
    MLC_ERR_INVOKE = 4,
    MLC_ERR_GAP = 5      /* SAMPLES starting after the samples consumed: some were never received */
};

/* Cycle counters (macros, not an enum, so build flags can select one with #if). */
#define MLC_COUNTER_NONE 0
#define MLC_COUNTER_DWT 1
#define MLC_COUNTER_TIMER1 2

uint16_t mlc_crc16_update(uint16_t crc, const uint8_t *data, size_t len);

typedef void (*mlc_write_fn)(const uint8_t *data, size_t len);

/* One piece of a frame's payload (a header, a model output in its arena, ...). */
struct mlc_part {
    const void *data;
    uint16_t len;
};

/* Send one frame whose payload is the concatenation of n parts (any may be empty). */
void mlc_send_frame_parts(mlc_write_fn write, uint8_t type, uint8_t seq, const struct mlc_part *parts, size_t n);

/* The same for two parts (either may be empty). */
void mlc_send_frame(mlc_write_fn write, uint8_t type, uint8_t seq,
                    const uint8_t *part1, uint16_t len1, const uint8_t *part2, uint16_t len2);

struct mlc_rx;
typedef void (*mlc_frame_fn)(struct mlc_rx *rx, uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len);
typedef void (*mlc_rx_error_fn)(struct mlc_rx *rx, uint8_t seq, uint8_t code);

/* Receiver: keeps unparsed bytes in buf so that after a bad frame it rescans from the byte after the
 * bad frame's SYNC0, which recovers a frame whose start was swallowed by a frame that lost a byte. */
struct mlc_rx {
    uint8_t *buf;
    uint16_t capacity;     /* bytes of buf: max payload + MLC_FRAME_OVERHEAD */
    uint16_t head;         /* first unparsed byte */
    uint16_t fill;         /* one past the last received byte */
    mlc_frame_fn on_frame;
    mlc_rx_error_fn on_error;
};

/* A SAMPLES payload checked against the stream position `consumed` (sample frames of frame_bytes each):
 * MLC_SAMPLES_NEW with *samples and *count (sample frames) to process, MLC_SAMPLES_REPEAT for a resent
 * request already processed (answer it with the ACK only), or MLC_SAMPLES_BAD (send *code as an error). */
enum mlc_samples_status { MLC_SAMPLES_NEW, MLC_SAMPLES_REPEAT, MLC_SAMPLES_BAD };
enum mlc_samples_status mlc_samples_accept(uint32_t consumed, const uint8_t *payload, uint16_t len,
                                           uint16_t frame_bytes, const uint8_t **samples, uint16_t *count,
                                           uint8_t *code);
#define MLC_SAMPLES_HEADER_BYTES 4u

void mlc_rx_init(struct mlc_rx *rx, uint8_t *buf, uint16_t capacity, mlc_frame_fn on_frame, mlc_rx_error_fn on_error);
void mlc_rx_push(struct mlc_rx *rx, uint8_t byte);
/* 1 while part of a frame is waiting for more bytes. */
int mlc_rx_busy(const struct mlc_rx *rx);
void mlc_rx_reset(struct mlc_rx *rx);

#ifdef __cplusplus
}
#endif
#endif
