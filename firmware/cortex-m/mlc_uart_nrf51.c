/* Polled Nordic nRF51 UART (QEMU's microbit machine): tasks start the transmitter and receiver, the TXDRDY and
 * RXDRDY events say a byte went out or came in. Event registers stay set until the firmware clears them. */
#include <stdint.h>

#include "mlc_hal.h"
#include "mlc_uart.h"

#define UART_REG(offset) (*(volatile uint32_t *)((MLC_UART_BASE) + (offset)))
#define UART_TASKS_STARTRX UART_REG(0x000u)
#define UART_TASKS_STARTTX UART_REG(0x008u)
#define UART_EVENTS_RXDRDY UART_REG(0x108u)
#define UART_EVENTS_TXDRDY UART_REG(0x11Cu)
#define UART_ENABLE UART_REG(0x500u)
#define UART_RXD UART_REG(0x518u)
#define UART_TXD UART_REG(0x51Cu)
#define UART_ENABLE_ON 4u
#define UART_TASK_TRIGGER 1u

void mlc_uart_init(void)
{
    UART_ENABLE = UART_ENABLE_ON;
    UART_TASKS_STARTTX = UART_TASK_TRIGGER;
    UART_TASKS_STARTRX = UART_TASK_TRIGGER;
}

int mlc_hal_read(void)
{
    if (!UART_EVENTS_RXDRDY) return -1;
    UART_EVENTS_RXDRDY = 0; /* before the read: reading RXD sets it again while more bytes wait */
    return (int)(UART_RXD & 0xFFu);
}

/* TXD ignores a byte written while the previous one is still going out, so each write waits for TXDRDY. */
void mlc_hal_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        UART_EVENTS_TXDRDY = 0;
        UART_TXD = data[i];
        while (!UART_EVENTS_TXDRDY) {
        }
    }
}
