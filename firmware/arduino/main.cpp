/* setup() and loop() of an Arduino-framework board: the board layer, then the app. Arduino.h declares them
 * (with C linkage, as the core's main() calls them). */
#include <Arduino.h>

#include "mlc_hal.h"

void setup()
{
    mlc_hal_init();
    mlc_app_setup();
}

void loop()
{
    mlc_app_poll();
}
