/* Board layer for QEMU's Cortex-M machines: the UART the board names (mlc_uart_<driver>.c) and a SysTick
 * millisecond clock. MLC_CLOCK_HZ and MLC_CYCLE_COUNTER come from the board's build flags. */
#include <stdint.h>

#include "mlc_hal.h"
#include "mlc_protocol.h"
#include "mlc_uart.h"

#ifndef MLC_CLOCK_HZ
#error "MLC_CLOCK_HZ must come from the board's build flags"
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE_TICKINT_CPUCLK 7u

static volatile uint32_t millis;

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    millis++;
}

void mlc_hal_init(void)
{
    mlc_uart_init();
    SYST_RVR = MLC_CLOCK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE_TICKINT_CPUCLK;
}

uint32_t mlc_hal_millis(void)
{
    return millis;
}

/* No LED on the emulated boards: the state change goes to the UART as a text line. */
void mlc_hal_led(uint8_t alarm)
{
    static const char red[] = "LED red\r\n", green[] = "LED green\r\n";
    if (alarm) mlc_hal_write((const uint8_t *)red, sizeof red - 1);
    else mlc_hal_write((const uint8_t *)green, sizeof green - 1);
}
