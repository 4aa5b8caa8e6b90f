/* The UART driver a bare-metal board's serial.driver names (boards/<id>.json): mlc_uart_<driver>.c sets the UART
 * up here and implements mlc_hal_read and mlc_hal_write (mlc_hal.h); mlc_hal_qemu.c does the rest.
 * MLC_UART_BASE, the UART's register base, comes from the board's build flags. */
#ifndef MLC_UART_H
#define MLC_UART_H

#ifndef MLC_UART_BASE
#error "MLC_UART_BASE (the UART's register base) must come from the board's build flags"
#endif

void mlc_uart_init(void);

#endif
