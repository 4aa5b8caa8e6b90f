/* Board layer for `mlc build --fit-check` on real boards: the app, protocol, cycle counter and model are
 * the real ones; only the serial port is a stand-in, because the board's framework (Arduino core from the
 * official PlatformIO platform) is not installed here. Bytes go to a volatile sink so no code is dropped. */
#include "mlc_hal.h"
#include "mlc_protocol.h"

static volatile uint8_t mlc_fitcheck_sink;
static volatile int mlc_fitcheck_source = -1;
static volatile uint32_t mlc_fitcheck_millis;

void mlc_hal_init(void) {}

int mlc_hal_read(void)
{
    return mlc_fitcheck_source;
}

void mlc_hal_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) mlc_fitcheck_sink = data[i];
}

uint32_t mlc_hal_millis(void)
{
    return mlc_fitcheck_millis++;
}

void mlc_hal_led(uint8_t alarm)
{
    mlc_fitcheck_sink = alarm;
}


#if MLC_CYCLE_COUNTER == MLC_COUNTER_TIMER1
/* Timer1 counting lives in the Arduino board layer, which the fit check leaves out. */
uint8_t mlc_hal_cycle_counter(void) { return MLC_COUNTER_TIMER1; }
void mlc_hal_cycles_start(void) {}
uint32_t mlc_hal_cycles_stop(void) { return MLC_CYCLES_NONE; }
#endif

#if defined(__arm__)
/* Named by the start-up code's vector table (the boards' real frameworks bring their own). */
void SysTick_Handler(void);
void SysTick_Handler(void)
{
    mlc_fitcheck_millis++;
}
#endif
