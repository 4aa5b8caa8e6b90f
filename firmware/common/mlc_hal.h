/* What the classify app needs from a board: a byte pipe, a millisecond clock and (maybe) a cycle counter.
 * One implementation per board family: cortex-m/mlc_hal_qemu.c with the board's cortex-m/mlc_uart_<driver>.c (QEMU's
 * machines), arduino/mlc_arduino.cpp. */
#ifndef MLC_HAL_H
#define MLC_HAL_H

#include <stddef.h>
#include <stdint.h>

#include "mlc_protocol.h"

/* The cycle counter: mlc's builds name it in the build flags; an Arduino IDE build has none, so pick by core. */
#ifndef MLC_CYCLE_COUNTER
#if defined(__AVR_ATmega328P__)
#define MLC_CYCLE_COUNTER MLC_COUNTER_TIMER1
#elif defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
#define MLC_CYCLE_COUNTER MLC_COUNTER_DWT
#else
#define MLC_CYCLE_COUNTER MLC_COUNTER_NONE
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

void mlc_hal_init(void);
/* Next received byte, or -1 when none is waiting (never blocks). */
int mlc_hal_read(void);
void mlc_hal_write(const uint8_t *data, size_t len);
uint32_t mlc_hal_millis(void);
/* Which enum mlc_cycle_counter this build reports. */
uint8_t mlc_hal_cycle_counter(void);
void mlc_hal_cycles_start(void);
/* Cycles since mlc_hal_cycles_start, or MLC_CYCLES_NONE where the board cannot count them. */
uint32_t mlc_hal_cycles_stop(void);
/* The status LED of streaming apps: alarm 1 lights it red, 0 green (boards without an RGB LED light their one
 * LED for red; emulated boards print `LED red` / `LED green`). */
void mlc_hal_led(uint8_t alarm);

/* The app, driven by the board's main loop. */
void mlc_app_setup(void);
void mlc_app_poll(void);

#ifdef __cplusplus
}
#endif
#endif
