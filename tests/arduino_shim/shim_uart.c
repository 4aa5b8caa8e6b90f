/* mlc's bare-metal board layer for QEMU (the CMSDK UART0 and the SysTick millisecond clock) under the shim's
 * names, so it does not collide with the Arduino board layer the sketch brings. */
#define mlc_hal_init shim_hal_init
#define mlc_hal_read shim_hal_read
#define mlc_hal_write shim_hal_write
#define mlc_hal_millis shim_hal_millis
#define mlc_hal_led shim_hal_led
#include "mlc_hal_qemu.c"
#include "mlc_uart_cmsdk.c"
