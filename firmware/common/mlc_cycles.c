/* Cycle counting for every board family: the DWT counter (Cortex-M3 and up) or none. Boards with another
 * counter (Timer1 on the ATmega328P) implement these three in their board layer instead. */
#include "mlc_hal.h"

#if MLC_CYCLE_COUNTER == MLC_COUNTER_DWT
#include "mlc_dwt.h"

uint8_t mlc_hal_cycle_counter(void) { return MLC_COUNTER_DWT; }
void mlc_hal_cycles_start(void) { mlc_dwt_start(); }
uint32_t mlc_hal_cycles_stop(void) { return mlc_dwt_stop(MLC_CYCLES_NONE); }

#elif MLC_CYCLE_COUNTER == MLC_COUNTER_NONE
uint8_t mlc_hal_cycle_counter(void) { return MLC_COUNTER_NONE; }
void mlc_hal_cycles_start(void) {}
uint32_t mlc_hal_cycles_stop(void) { return MLC_CYCLES_NONE; }
#endif
