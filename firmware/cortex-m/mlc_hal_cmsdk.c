/* Board layer for QEMU's MPS2/MPS3 machines: CMSDK APB UART0 (polled) and a SysTick millisecond clock.
 * MLC_UART_BASE, MLC_CLOCK_HZ and MLC_CYCLE_COUNTER come from the board's build flags. */
#include <stdint.h>

#include "mlc_hal.h"
#include "mlc_protocol.h"

#ifndef MLC_UART_BASE
#error "MLC_UART_BASE (the CMSDK UART0 address) must come from the board's build flags"
#endif
#ifndef MLC_CLOCK_HZ
#error "MLC_CLOCK_HZ must come from the board's build flags"
#endif

struct cmsdk_uart {
    volatile uint32_t data;
    volatile uint32_t state;
    volatile uint32_t ctrl;
    volatile uint32_t intstatus;
    volatile uint32_t bauddiv;
};

#define UART ((struct cmsdk_uart *)(MLC_UART_BASE))
#define UART_STATE_TX_FULL 1u
#define UART_STATE_RX_FULL 2u
#define UART_CTRL_TX_EN 1u
#define UART_CTRL_RX_EN 2u
#define UART_BAUDDIV_MIN 16u /* the smallest divider CMSDK accepts; QEMU does not pace bytes anyway */

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
    UART->bauddiv = UART_BAUDDIV_MIN;
    UART->ctrl = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
    SYST_RVR = MLC_CLOCK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE_TICKINT_CPUCLK;
}

int mlc_hal_read(void)
{
    if (!(UART->state & UART_STATE_RX_FULL)) return -1;
    return (int)(UART->data & 0xFFu);
}

void mlc_hal_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (UART->state & UART_STATE_TX_FULL) {
        }
        UART->data = data[i];
    }
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

