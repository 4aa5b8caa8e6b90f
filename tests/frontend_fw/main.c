/* Front end test firmware: runs fe_process on every frame of frames.h through one state, writes the
 * features to the host file named in frames.h through semihosting, and exits QEMU. fe_bench_run is the
 * frame the instruction counter measures: from fe_process's entry to its return here. */
#include <stdint.h>

#include "fe.h"
#include "frames.h"

extern uint32_t __etext, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
int main(void);

static fe_state state;
static uint32_t scratch[(fe_SCRATCH_BYTES + 3) / 4];
static int8_t features[FE_TEST_FRAMES][fe_NUM_FEATURES];

static int32_t semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void fe_bench_run(const int16_t *frame, int8_t *out) __attribute__((noinline));
void fe_bench_run(const int16_t *frame, int8_t *out)
{
    fe_process(&state, frame, out, scratch);
    __asm__ volatile("" ::: "memory"); /* no tail call: the return must land here */
}

int main(void)
{
    fe_reset(&state);
    for (int32_t f = 0; f < FE_TEST_FRAMES; f++) {
        fe_bench_run(fe_test_frames[f], features[f]);
    }
    const uint32_t open[3] = {(uint32_t)FE_TEST_OUTPUT, 5 /* "wb" */, sizeof FE_TEST_OUTPUT - 1};
    int32_t handle = semihost(0x01, open);
    const uint32_t write[3] = {(uint32_t)handle, (uint32_t)features, sizeof features};
    int32_t unwritten = semihost(0x05, write);
    semihost(0x02, &handle);
    semihost(0x18, (const void *)(unwritten == 0 ? 0x20026u : 0x20023u)); /* exit: ok / error */
    return 0;
}

void reset(void)
{
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: the FPU on, before any float instruction */
#endif
    const uint32_t *src = &__etext;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
    main();
    for (;;) {
    }
}

__attribute__((section(".vectors"), used)) static const void *const vectors[2] = {&__stack_top, (const void *)reset};
