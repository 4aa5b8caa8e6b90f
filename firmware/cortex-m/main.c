/* Bare-metal main loop for boards without a framework. */
#include "mlc_hal.h"

int main(void)
{
    mlc_hal_init();
    mlc_app_setup();
    for (;;) mlc_app_poll();
}
