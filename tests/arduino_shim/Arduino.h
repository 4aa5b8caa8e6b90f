/* A minimal Arduino API for the exported library's test on an emulated Cortex-M board: Serial and millis()
 * over mlc's own CMSDK board layer (shim_uart.c), so the sketch compiles and runs as it would on an Arduino. */
#ifndef MLC_ARDUINO_SHIM_H
#define MLC_ARDUINO_SHIM_H

#include <stddef.h>
#include <stdint.h>

extern "C" {
void shim_hal_init(void);
int shim_hal_read(void);
void shim_hal_write(const uint8_t *data, size_t len);
uint32_t shim_hal_millis(void);
}

class ShimSerial {
public:
    void begin(unsigned long) { shim_hal_init(); }
    int available()
    {
        if (pending_ < 0) pending_ = shim_hal_read();
        return pending_ >= 0;
    }
    int read()
    {
        available();
        const int byte = pending_;
        pending_ = -1;
        return byte;
    }
    size_t write(const uint8_t *data, size_t len)
    {
        shim_hal_write(data, len);
        return len;
    }
    explicit operator bool() const { return true; }

private:
    int pending_ = -1;  /* a byte read by available() and not yet by read() */
};

extern ShimSerial Serial;

inline unsigned long millis() { return shim_hal_millis(); }

extern "C" void setup(void);  /* C linkage, as the Arduino cores declare them */
extern "C" void loop(void);

#endif
