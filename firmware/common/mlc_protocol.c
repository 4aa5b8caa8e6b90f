#include "mlc_protocol.h"

#include <string.h>

uint16_t mlc_crc16_update(uint16_t crc, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

void mlc_send_frame_parts(mlc_write_fn write, uint8_t type, uint8_t seq, const struct mlc_part *parts, size_t n)
{
    uint16_t len = 0;
    for (size_t i = 0; i < n; i++) len = (uint16_t)(len + parts[i].len);
    const uint8_t header[MLC_HEADER_BYTES] = {
        MLC_SYNC0, MLC_SYNC1, type, seq, (uint8_t)(len & 0xFFu), (uint8_t)(len >> 8)
    };
    uint16_t crc = mlc_crc16_update(MLC_CRC_INIT, header + 2, MLC_HEADER_BYTES - 2);
    for (size_t i = 0; i < n; i++) crc = mlc_crc16_update(crc, (const uint8_t *)parts[i].data, parts[i].len);
    const uint8_t trailer[MLC_CRC_BYTES] = { (uint8_t)(crc & 0xFFu), (uint8_t)(crc >> 8) };
    write(header, sizeof header);
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len) write((const uint8_t *)parts[i].data, parts[i].len);
    }
    write(trailer, sizeof trailer);
}

void mlc_send_frame(mlc_write_fn write, uint8_t type, uint8_t seq,
                    const uint8_t *part1, uint16_t len1, const uint8_t *part2, uint16_t len2)
{
    const struct mlc_part parts[2] = { { part1, len1 }, { part2, len2 } };
    mlc_send_frame_parts(write, type, seq, parts, 2);
}

enum mlc_samples_status mlc_samples_accept(uint32_t consumed, const uint8_t *payload, uint16_t len,
                                           uint16_t frame_bytes, const uint8_t **samples, uint16_t *count,
                                           uint8_t *code)
{
    if (len < MLC_SAMPLES_HEADER_BYTES || (len - MLC_SAMPLES_HEADER_BYTES) % frame_bytes != 0) {
        *code = MLC_ERR_LENGTH;
        return MLC_SAMPLES_BAD;
    }
    const uint32_t first = (uint32_t)payload[0] | ((uint32_t)payload[1] << 8) | ((uint32_t)payload[2] << 16)
                           | ((uint32_t)payload[3] << 24);
    const uint16_t n = (uint16_t)((len - MLC_SAMPLES_HEADER_BYTES) / frame_bytes);
    if (first > consumed) {
        *code = MLC_ERR_GAP;
        return MLC_SAMPLES_BAD;
    }
    if (first + n <= consumed) return MLC_SAMPLES_REPEAT;
    if (first != consumed) {  /* overlaps what was consumed: the host never splits a stream like that */
        *code = MLC_ERR_GAP;
        return MLC_SAMPLES_BAD;
    }
    *samples = payload + MLC_SAMPLES_HEADER_BYTES;
    *count = n;
    return MLC_SAMPLES_NEW;
}

void mlc_rx_init(struct mlc_rx *rx, uint8_t *buf, uint16_t capacity, mlc_frame_fn on_frame, mlc_rx_error_fn on_error)
{
    rx->buf = buf;
    rx->capacity = capacity;
    rx->on_frame = on_frame;
    rx->on_error = on_error;
    mlc_rx_reset(rx);
}

void mlc_rx_reset(struct mlc_rx *rx)
{
    rx->head = 0;
    rx->fill = 0;
}

int mlc_rx_busy(const struct mlc_rx *rx)
{
    return rx->fill > rx->head;
}

/* Parse as many frames as the buffered bytes hold; drop one byte after any bad frame and rescan. */
static void mlc_rx_parse(struct mlc_rx *rx)
{
    const uint16_t max_payload = (uint16_t)(rx->capacity - MLC_FRAME_OVERHEAD);
    while (rx->fill > rx->head) {
        const uint8_t *p = rx->buf + rx->head;
        const uint16_t avail = (uint16_t)(rx->fill - rx->head);
        if (p[0] != MLC_SYNC0 || (avail >= 2 && p[1] != MLC_SYNC1)) {
            rx->head++;
            continue;
        }
        if (avail < MLC_HEADER_BYTES) return;
        const uint16_t len = (uint16_t)(p[4] | (p[5] << 8));
        if (len > max_payload) {
            rx->on_error(rx, p[3], MLC_ERR_LENGTH);
            rx->head++;
            continue;
        }
        const uint16_t total = (uint16_t)(len + MLC_FRAME_OVERHEAD);
        if (avail < total) return;
        const uint16_t crc = mlc_crc16_update(MLC_CRC_INIT, p + 2, (size_t)(MLC_HEADER_BYTES - 2 + len));
        if ((uint16_t)(p[total - 2] | (p[total - 1] << 8)) != crc) {
            rx->on_error(rx, p[3], MLC_ERR_CRC);
            rx->head++;
            continue;
        }
        rx->head = (uint16_t)(rx->head + total);
        rx->on_frame(rx, p[2], p[3], p + MLC_HEADER_BYTES, len);
    }
    rx->head = 0;
    rx->fill = 0;
}

void mlc_rx_push(struct mlc_rx *rx, uint8_t byte)
{
    if (rx->fill == rx->capacity) {
        /* Room is made by discarding what was already parsed; a full buffer of one unfinished frame
           cannot happen because its length was checked against the capacity. */
        memmove(rx->buf, rx->buf + rx->head, (size_t)(rx->fill - rx->head));
        rx->fill = (uint16_t)(rx->fill - rx->head);
        rx->head = 0;
    }
    rx->buf[rx->fill++] = byte;
    mlc_rx_parse(rx);
}
