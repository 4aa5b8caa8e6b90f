/* Board layer for Arduino-framework boards (real boards and uno-sim): Serial, millis() and a cycle counter
 * (DWT on Cortex-M3 and up, Timer1 on the ATmega328P, none elsewhere). MLC_BAUD and MLC_CYCLE_COUNTER come
 * from the build flags, or their defaults in an Arduino IDE build. setup() and loop() are main.cpp's (a
 * PlatformIO build) or the sketch's (an exported library's example). */
#include <Arduino.h>

#include "mlc_hal.h"
#include "mlc_protocol.h"

#ifndef MLC_BAUD
#define MLC_BAUD 115200
#endif

void mlc_hal_init(void)
{
    Serial.begin(MLC_BAUD);
#if defined(USBCON) || defined(ARDUINO_ARCH_MBED) || defined(ARDUINO_ARCH_RP2040) || defined(CORE_TEENSY)
    /* Native USB serial: wait (up to 3 s) for the host to open the port so the start-up line is seen. */
    for (unsigned long start = millis(); !Serial && millis() - start < 3000;) {
    }
#endif
}

int mlc_hal_read(void)
{
    return Serial.available() > 0 ? Serial.read() : -1;
}

void mlc_hal_write(const uint8_t *data, size_t len)
{
    Serial.write(data, len);
}

uint32_t mlc_hal_millis(void)
{
    return millis();
}

/* LEDR/LEDG where the board has an RGB LED (Nano 33 BLE, active low), else LED_BUILTIN lit for the alarm. */
void mlc_hal_led(uint8_t alarm)
{
#if defined(LEDR) && defined(LEDG)
    pinMode(LEDR, OUTPUT);
    pinMode(LEDG, OUTPUT);
    digitalWrite(LEDR, alarm ? LOW : HIGH);
    digitalWrite(LEDG, alarm ? HIGH : LOW);
#elif defined(LED_BUILTIN)
    pinMode(LED_BUILTIN, OUTPUT);
    digitalWrite(LED_BUILTIN, alarm ? HIGH : LOW);
#else
    (void)alarm;
#endif
}

/* DWT and none come from mlc_cycles.c. */
#if MLC_CYCLE_COUNTER == MLC_COUNTER_TIMER1 && defined(__AVR_ATmega328P__)
/* Timer1 at the CPU clock (prescaler 1) plus an overflow count gives exact cycles. It takes Timer1 from
 * analogWrite on pins 9 and 10, which the classify app does not use. */
static volatile uint16_t timer1_overflows;
ISR(TIMER1_OVF_vect) { timer1_overflows++; }

uint8_t mlc_hal_cycle_counter(void) { return MLC_COUNTER_TIMER1; }

void mlc_hal_cycles_start(void)
{
    TCCR1B = 0;
    TCCR1A = 0; /* normal mode: count to 0xFFFF */
    TCNT1 = 0;
    timer1_overflows = 0;
    TIFR1 = _BV(TOV1);
    TIMSK1 = _BV(TOIE1);
    TCCR1B = _BV(CS10);
}

uint32_t mlc_hal_cycles_stop(void)
{
    const uint8_t sreg = SREG;
    cli(); /* read count, overflow count and a pending overflow as one */
    const uint16_t low = TCNT1;
    uint32_t high = timer1_overflows;
    if ((TIFR1 & _BV(TOV1)) && low < 0x8000u) high++; /* wrapped, overflow not yet serviced */
    TCCR1B = 0;
    TIMSK1 = 0;
    SREG = sreg;
    return (high << 16) | low;
}
#elif MLC_CYCLE_COUNTER == MLC_COUNTER_TIMER1
#error "the Timer1 cycle counter is implemented for the ATmega328P only"
#endif
