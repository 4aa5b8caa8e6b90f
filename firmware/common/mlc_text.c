#include "mlc_text.h"

#include <string.h>

#include "mlc_hal.h"

void mlc_print(const char *s)
{
    mlc_hal_write((const uint8_t *)s, strlen(s));
}

void mlc_print_u32(uint32_t value)
{
    char digits[11];
    uint8_t n = sizeof digits;
    do {
        digits[--n] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value);
    mlc_hal_write((const uint8_t *)digits + n, (size_t)(sizeof digits - n));
}

void mlc_print_i32(int32_t value)
{
    if (value < 0) {
        mlc_print("-");
        mlc_print_u32((uint32_t)0 - (uint32_t)value);
    } else {
        mlc_print_u32((uint32_t)value);
    }
}

void mlc_print_fixed(int32_t value, uint8_t decimals)
{
    uint32_t scale = 1;
    for (uint8_t i = 0; i < decimals; i++) scale *= 10u;
    const uint32_t magnitude = value < 0 ? (uint32_t)0 - (uint32_t)value : (uint32_t)value;
    if (value < 0) mlc_print("-");
    mlc_print_u32(magnitude / scale);
    if (!decimals) return;
    mlc_print(".");
    uint32_t frac = magnitude % scale;
    for (scale /= 10u; scale; scale /= 10u) {
        const char digit = (char)('0' + frac / scale);
        mlc_hal_write((const uint8_t *)&digit, 1);
        frac %= scale;
    }
}
