/* Human-readable lines without printf (no stdio keeps the Uno build small). */
#ifndef MLC_TEXT_H
#define MLC_TEXT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void mlc_print(const char *s);
void mlc_print_u32(uint32_t value);
void mlc_print_i32(int32_t value);
/* value / 10^decimals as a decimal number, e.g. (-5, 4) -> "-0.0005". */
void mlc_print_fixed(int32_t value, uint8_t decimals);

#ifdef __cplusplus
}
#endif
#endif
