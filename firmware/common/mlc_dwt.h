/* DWT cycle counter of Cortex-M3 and up (ARMv7-M / ARMv8-M Mainline), by address so no CMSIS is needed. */
#ifndef MLC_DWT_H
#define MLC_DWT_H

#include <stdint.h>

#define MLC_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define MLC_DEMCR_TRCENA (1u << 24)
#define MLC_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define MLC_DWT_CTRL_CYCCNTENA 1u
#define MLC_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define MLC_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)
#define MLC_DWT_LAR_UNLOCK 0xC5ACCE55u

static inline void mlc_dwt_start(void)
{
    MLC_DEMCR |= MLC_DEMCR_TRCENA;
    MLC_DWT_LAR = MLC_DWT_LAR_UNLOCK; /* Cortex-M7 ignores DWT writes until unlocked */
    MLC_DWT_CYCCNT = 0;
    MLC_DWT_CTRL |= MLC_DWT_CTRL_CYCCNTENA;
}

/* A counter that did not move (it reads 0 under emulation) reports none rather than 0 cycles. */
static inline uint32_t mlc_dwt_stop(uint32_t none)
{
    const uint32_t cycles = MLC_DWT_CYCCNT;
    return cycles ? cycles : none;
}

#endif
