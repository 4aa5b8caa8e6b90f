/* The shim's Serial object and main(): setup() once, then loop() for ever, as the Arduino core does. */
#include "Arduino.h"

ShimSerial Serial;

int main()
{
    setup();
    for (;;) loop();
}
