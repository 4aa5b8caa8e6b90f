/* Polled Arm CMSDK APB UART (UART0 of QEMU's MPS2/MPS3 machines). */
#include <stdint.h>

#include "mlc_hal.h"
#include "mlc_uart.h"

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

void mlc_uart_init(void)
{
    UART->bauddiv = UART_BAUDDIV_MIN;
    UART->ctrl = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
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
