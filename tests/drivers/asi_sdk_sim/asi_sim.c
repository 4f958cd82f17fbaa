/*
 * asi_sim.c -- a simulated libASICamera2 for camdeck's tests.
 *
 * ABI-compatible with the ZWO ASI SDK (ASICamera2.h, SDK 1.x): the same exported
 * symbols, argument types and struct layouts, so the real `zwoasi` Python wrapper
 * loads it with zwoasi.init(path) and drives it like hardware. It holds two
 * ZWO ASI662MC cameras that differ only by serial number.
 *
 * What it simulates (the SDK's documented behaviour):
 *   - enumeration by index, control by CameraID (IDs are fixed per camera, so after
 *     an unplug the index of the remaining camera differs from its ID);
 *   - open/init/close, "camera closed" and "camera removed" errors;
 *   - control caps and values (values beyond the range are clamped, as the SDK does);
 *   - ROI rules: width % 8 == 0, height % 2 == 0, size and start within the binned
 *     sensor, supported bins and image types; no ROI change while video runs;
 *   - video capture with ASIGetVideoData(timeout_ms), dropped frames (reset on stop);
 *   - serial numbers (ASIGetSerialNumber), IDs in flash (ASIGetID/ASISetID).
 *
 * Frames carry a frame-counter pattern: the pixel at sensor coordinates (X, Y)
 * of frame n (n counts from 0 at ASIStartVideoCapture) holds
 *     v = (X + Y + n + salt) mod 256           RAW8 / Y8 / each byte of RGB24
 *     v = ((X + Y + n + salt) mod 4096) << 4   RAW16 (12-bit ADC, MSB-aligned)
 * with X = (start_x + x) * bin, Y = (start_y + y) * bin, and salt = 64 * slot,
 * so a test can read back which camera, which ROI and which frame it got.
 *
 * Test knobs (not part of the SDK, prefixed ASISim):
 *   ASISimReset, ASISimSetTimeScale, ASISimSetConnected, ASISimTimeouts,
 *   ASISimDropFrames, ASISimCounter, ASISimStructSizes.
 * Time: with time scale 0 (the default after ASISimReset) the sim runs on a virtual
 * clock: a frame is always ready and a timeout returns at once. With a positive
 * scale, frames pace at the frame interval and a timeout waits timeout_ms * scale.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ ABI types */

enum { SIM_INVALID_INDEX = 1, SIM_INVALID_ID, SIM_INVALID_CONTROL_TYPE, SIM_CAMERA_CLOSED,
       SIM_CAMERA_REMOVED, SIM_INVALID_PATH, SIM_INVALID_FILEFORMAT, SIM_INVALID_SIZE,
       SIM_INVALID_IMGTYPE, SIM_OUTOF_BOUNDARY, SIM_TIMEOUT, SIM_INVALID_SEQUENCE,
       SIM_BUFFER_TOO_SMALL, SIM_VIDEO_MODE_ACTIVE, SIM_EXPOSURE_IN_PROGRESS,
       SIM_GENERAL_ERROR, SIM_INVALID_MODE };

enum { IMG_RAW8 = 0, IMG_RGB24 = 1, IMG_RAW16 = 2, IMG_Y8 = 3, IMG_END = -1 };

typedef struct {
    char Name[64];
    int CameraID;
    long MaxHeight;
    long MaxWidth;
    int IsColorCam;
    int BayerPattern;
    int SupportedBins[16];
    int SupportedVideoFormat[8];
    double PixelSize;
    int MechanicalShutter;
    int ST4Port;
    int IsCoolerCam;
    int IsUSB3Host;
    int IsUSB3Camera;
    float ElecPerADU;
    int BitDepth;
    int IsTriggerCam;
    char Unused[16];
} CameraInfo;

typedef struct {
    char Name[64];
    char Description[128];
    long MaxValue;
    long MinValue;
    long DefaultValue;
    int IsAutoSupported;
    int IsWritable;
    int ControlType;
    char Unused[32];
} ControlCaps;

typedef struct { unsigned char id[8]; } IdBytes;          /* ASI_ID and ASI_SN */
typedef struct { int SupportedCameraMode[16]; } SupportedModes;

/* Control types (ASI_CONTROL_TYPE). */
enum { C_GAIN = 0, C_EXPOSURE = 1, C_GAMMA = 2, C_WB_R = 3, C_WB_B = 4, C_OFFSET = 5,
       C_BANDWIDTH = 6, C_TEMPERATURE = 8, C_FLIP = 9, C_AUTO_MAX_GAIN = 10,
       C_AUTO_MAX_EXP = 11, C_AUTO_TARGET_BRIGHTNESS = 12, C_HARDWARE_BIN = 13,
       C_HIGH_SPEED = 14, C_TYPES = 22 };

/* ------------------------------------------------------------------ the model */

#define N_CAMS 2
#define MAX_W 1920
#define MAX_H 1080

typedef struct {
    const char *name, *description;
    long min, max, def;
    int auto_ok, writable, type;
} ControlDef;

/* An ASI662MC's controls as the SDK lists them (ranges of the real camera). */
static const ControlDef CONTROLS[] = {
    {"Gain", "Gain", 0, 600, 0, 1, 1, C_GAIN},
    {"Exposure", "Exposure Time(us)", 32, 2000000000L, 10000, 1, 1, C_EXPOSURE},
    {"Offset", "offset", 0, 240, 8, 0, 1, C_OFFSET},
    {"BandWidth", "The total data transfer rate percentage", 40, 100, 50, 1, 1, C_BANDWIDTH},
    {"Flip", "Flip: 0->None 1->Horiz 2->Vert 3->Both", 0, 3, 0, 0, 1, C_FLIP},
    {"AutoExpMaxGain", "Auto exposure maximum gain value", 0, 600, 300, 0, 1, C_AUTO_MAX_GAIN},
    {"AutoExpMaxExpMS", "Auto exposure maximum exposure value(unit ms)", 1, 60000, 100, 0, 1, C_AUTO_MAX_EXP},
    {"AutoExpTargetBrightness", "Auto exposure target brightness value", 50, 160, 100, 0, 1, C_AUTO_TARGET_BRIGHTNESS},
    {"HardwareBin", "Is hardware bin2:0->No 1->Yes", 0, 1, 0, 0, 1, C_HARDWARE_BIN},
    {"HighSpeedMode", "Is high speed mode:0->No 1->Yes", 0, 1, 0, 0, 1, C_HIGH_SPEED},
    {"Temperature", "Sensor temperature(degrees Celsius)", -500, 1000, 20, 0, 0, C_TEMPERATURE},
    {"Gamma", "gamma with default 50", 1, 100, 50, 0, 1, C_GAMMA},
    {"WB_R", "White balance: Red component", 1, 99, 52, 1, 1, C_WB_R},
    {"WB_B", "White balance: Blue component", 1, 99, 95, 1, 1, C_WB_B},
};
#define N_CONTROLS ((int)(sizeof CONTROLS / sizeof CONTROLS[0]))

typedef struct {
    /* identity */
    unsigned char serial[8];
    unsigned char flash_id[8];
    int connected, usb3_host;
    /* session */
    int opened, capturing;
    int width, height, bin, img_type, start_x, start_y;
    long value[C_TYPES];
    int is_auto[C_TYPES];
    long long frame_no;          /* next frame number to deliver */
    long long next_frame_ns;     /* real-time mode: when the next frame is ready */
    int dropped;
    /* faults */
    int timeouts;                /* >0: next N waiting reads time out; -1 until video restart; -2 until reopen */
    int drop_pending;
    /* counters for tests: 0 open, 1 start video, 2 stop video, 3 get video data, 4 close */
    long counters[5];
} Cam;

static Cam cams[N_CAMS];
static double time_scale = 0.0;
static int initialised = 0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char sdk_version[] = "1, 37, 0, camdeck-sim";

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ns(long long ns) {
    if (ns <= 0) return;
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    nanosleep(&ts, NULL);
}

static const ControlDef *control_def(int type) {
    for (int i = 0; i < N_CONTROLS; i++)
        if (CONTROLS[i].type == type) return &CONTROLS[i];
    return NULL;
}

static void session_defaults(Cam *c) {
    c->capturing = 0;
    c->width = MAX_W;
    c->height = MAX_H;
    c->bin = 1;
    c->img_type = IMG_RAW8;
    c->start_x = 0;
    c->start_y = 0;
    c->dropped = 0;
    for (int i = 0; i < N_CONTROLS; i++) {
        c->value[CONTROLS[i].type] = CONTROLS[i].def;
        c->is_auto[CONTROLS[i].type] = 0;
    }
    c->value[C_TEMPERATURE] = 253 + 7 * (int)(c - cams);   /* 25.3 C and 26.0 C */
}

static void reset_locked(void) {
    static const unsigned char serials[N_CAMS][8] = {
        {0x1e, 0x66, 0x2a, 0x00, 0x10, 0x00, 0x00, 0x01},
        {0x1e, 0x66, 0x2a, 0x00, 0x10, 0x00, 0x00, 0x02},
    };
    for (int i = 0; i < N_CAMS; i++) {
        Cam *c = &cams[i];
        memset(c, 0, sizeof *c);
        memcpy(c->serial, serials[i], 8);
        c->connected = 1;
        c->usb3_host = 1;
        session_defaults(c);
    }
    time_scale = 0.0;
    initialised = 1;
}

static void ensure_init(void) {
    if (!initialised) reset_locked();
}

/* The camera at enumeration index `index` (the index-th connected one), or NULL. */
static Cam *by_index(int index) {
    int seen = 0;
    for (int i = 0; i < N_CAMS; i++) {
        if (!cams[i].connected) continue;
        if (seen++ == index) return &cams[i];
    }
    return NULL;
}

/* Checks shared by every per-camera call: valid ID, still connected, opened. */
static int check(int id, Cam **out) {
    ensure_init();
    if (id < 0 || id >= N_CAMS) return SIM_INVALID_ID;
    Cam *c = &cams[id];
    if (!c->connected) return SIM_CAMERA_REMOVED;
    if (!c->opened) return SIM_CAMERA_CLOSED;
    *out = c;
    return 0;
}

static void fill_info(Cam *c, CameraInfo *info) {
    memset(info, 0, sizeof *info);
    snprintf(info->Name, sizeof info->Name, "ZWO ASI662MC");
    info->CameraID = (int)(c - cams);
    info->MaxHeight = MAX_H;
    info->MaxWidth = MAX_W;
    info->IsColorCam = 1;
    info->BayerPattern = 0;                  /* RG */
    info->SupportedBins[0] = 1;
    info->SupportedBins[1] = 2;
    info->SupportedBins[2] = 3;
    info->SupportedBins[3] = 4;
    info->SupportedVideoFormat[0] = IMG_RAW8;
    info->SupportedVideoFormat[1] = IMG_RGB24;
    info->SupportedVideoFormat[2] = IMG_RAW16;
    info->SupportedVideoFormat[3] = IMG_Y8;
    info->SupportedVideoFormat[4] = IMG_END;
    info->PixelSize = 2.9;
    info->IsUSB3Host = c->usb3_host;
    info->IsUSB3Camera = 1;
    info->ElecPerADU = 3.6f;
    info->BitDepth = 12;
}

static int bytes_per_pixel(int img_type) {
    return img_type == IMG_RAW16 ? 2 : img_type == IMG_RGB24 ? 3 : 1;
}

/* Frame interval: the exposure, or the sensor readout when that is longer. */
static long long frame_interval_ns(const Cam *c) {
    long long rows = (long long)c->height * c->bin;
    long long row_ns = c->value[C_HIGH_SPEED] ? 7000 : 14000;     /* 10-bit vs 12-bit ADC */
    long long readout = rows * row_ns * 100 / (c->value[C_BANDWIDTH] > 0 ? c->value[C_BANDWIDTH] : 50);
    long long exposure = c->value[C_EXPOSURE] * 1000LL;
    return exposure > readout ? exposure : readout;
}

static void render(const Cam *c, int slot, unsigned char *buf, long long n) {
    int salt = 64 * slot;
    int bpp = bytes_per_pixel(c->img_type);
    for (int y = 0; y < c->height; y++) {
        long Y = (long)(c->start_y + y) * c->bin;
        unsigned char *row = buf + (size_t)y * c->width * bpp;
        for (int x = 0; x < c->width; x++) {
            long X = (long)(c->start_x + x) * c->bin;
            long v = X + Y + (long)(n % 65536) + salt;
            if (c->img_type == IMG_RAW16) {
                uint16_t w = (uint16_t)((v % 4096) << 4);
                memcpy(row + 2 * x, &w, 2);              /* little-endian, as on the host */
            } else if (c->img_type == IMG_RGB24) {
                row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = (unsigned char)(v & 0xff);
            } else {
                row[x] = (unsigned char)(v & 0xff);
            }
        }
    }
}

/* ------------------------------------------------------------------ SDK: enumeration */

int ASIGetNumOfConnectedCameras(void) {
    pthread_mutex_lock(&lock);
    ensure_init();
    int n = 0;
    for (int i = 0; i < N_CAMS; i++) n += cams[i].connected;
    pthread_mutex_unlock(&lock);
    return n;
}

int ASIGetProductIDs(int *pids) {
    if (pids) pids[0] = 0x62a;
    return 1;
}

int ASIGetCameraProperty(CameraInfo *info, int index) {
    pthread_mutex_lock(&lock);
    ensure_init();
    Cam *c = by_index(index);
    if (c) fill_info(c, info);
    pthread_mutex_unlock(&lock);
    return c ? 0 : SIM_INVALID_INDEX;
}

int ASIGetCameraPropertyByID(int id, CameraInfo *info) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) fill_info(c, info);
    pthread_mutex_unlock(&lock);
    return r;
}

/* ------------------------------------------------------------------ SDK: open/close */

int ASIOpenCamera(int id) {
    pthread_mutex_lock(&lock);
    ensure_init();
    int r = 0;
    if (id < 0 || id >= N_CAMS) r = SIM_INVALID_ID;
    else if (!cams[id].connected) r = SIM_CAMERA_REMOVED;
    else {
        cams[id].counters[0]++;
        if (!cams[id].opened) {
            cams[id].opened = 1;
            if (cams[id].timeouts == -2) cams[id].timeouts = 0;   /* a reopen clears a deep stall */
        }
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIInitCamera(int id) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) session_defaults(c);
    pthread_mutex_unlock(&lock);
    return r;
}

int ASICloseCamera(int id) {
    pthread_mutex_lock(&lock);
    ensure_init();
    int r = 0;
    if (id < 0 || id >= N_CAMS) r = SIM_INVALID_ID;
    else {
        cams[id].counters[4]++;
        cams[id].opened = 0;
        cams[id].capturing = 0;
    }
    pthread_mutex_unlock(&lock);
    return r;   /* success even when already closed (SDK) */
}

/* ------------------------------------------------------------------ SDK: controls */

int ASIGetNumOfControls(int id, int *n) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) *n = N_CONTROLS;
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetControlCaps(int id, int index, ControlCaps *caps) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r && (index < 0 || index >= N_CONTROLS)) r = SIM_INVALID_CONTROL_TYPE;
    if (!r) {
        const ControlDef *d = &CONTROLS[index];
        memset(caps, 0, sizeof *caps);
        snprintf(caps->Name, sizeof caps->Name, "%s", d->name);
        snprintf(caps->Description, sizeof caps->Description, "%s", d->description);
        caps->MaxValue = d->max;
        caps->MinValue = d->min;
        caps->DefaultValue = d->def;
        caps->IsAutoSupported = d->auto_ok;
        caps->IsWritable = d->writable;
        caps->ControlType = d->type;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetControlValue(int id, int type, long *value, int *is_auto) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r && !control_def(type)) r = SIM_INVALID_CONTROL_TYPE;
    if (!r) {
        *value = c->value[type];
        *is_auto = c->is_auto[type];
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASISetControlValue(int id, int type, long value, int is_auto) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    const ControlDef *d = r ? NULL : control_def(type);
    if (!r && !d) r = SIM_INVALID_CONTROL_TYPE;
    if (!r && !d->writable) r = SIM_GENERAL_ERROR;
    if (!r) {
        if (value < d->min) value = d->min;        /* the SDK clamps silently */
        if (value > d->max) value = d->max;
        c->value[type] = value;
        c->is_auto[type] = d->auto_ok ? (is_auto != 0) : 0;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetGainOffset(int id, int *offset_highest_dr, int *offset_unity_gain, int *gain_lowest_rn,
                     int *offset_lowest_rn) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) {
        *offset_highest_dr = 8;
        *offset_unity_gain = 8;
        *gain_lowest_rn = 120;
        *offset_lowest_rn = 8;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

/* ------------------------------------------------------------------ SDK: ROI */

static int bin_supported(int bin) { return bin >= 1 && bin <= 4; }

int ASISetROIFormat(int id, int width, int height, int bin, int img_type) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r && c->capturing) r = SIM_VIDEO_MODE_ACTIVE;
    if (!r && (!bin_supported(bin) || width <= 0 || height <= 0 || width % 8 || height % 2 ||
               width * bin > MAX_W || height * bin > MAX_H)) r = SIM_INVALID_SIZE;
    if (!r && img_type != IMG_RAW8 && img_type != IMG_RAW16 && img_type != IMG_RGB24 && img_type != IMG_Y8)
        r = SIM_INVALID_IMGTYPE;
    if (!r) {
        c->width = width;
        c->height = height;
        c->bin = bin;
        c->img_type = img_type;
        c->start_x = (MAX_W / bin - width) / 2;   /* the SDK centres a new ROI */
        c->start_y = (MAX_H / bin - height) / 2;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetROIFormat(int id, int *width, int *height, int *bin, int *img_type) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) {
        *width = c->width;
        *height = c->height;
        *bin = c->bin;
        *img_type = c->img_type;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASISetStartPos(int id, int x, int y) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r && (x < 0 || y < 0 || x + c->width > MAX_W / c->bin || y + c->height > MAX_H / c->bin))
        r = SIM_OUTOF_BOUNDARY;
    if (!r) {
        c->start_x = x;
        c->start_y = y;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetStartPos(int id, int *x, int *y) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) {
        *x = c->start_x;
        *y = c->start_y;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

/* ------------------------------------------------------------------ SDK: video */

int ASIGetDroppedFrames(int id, int *dropped) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) *dropped = c->dropped;
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIStartVideoCapture(int id) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) {
        c->counters[1]++;
        if (!c->capturing) {
            c->capturing = 1;
            c->frame_no = 0;
            c->next_frame_ns = now_ns() + (long long)(frame_interval_ns(c) * time_scale);
            if (c->timeouts == -1) c->timeouts = 0;   /* a restart clears a video stall */
        }
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIStopVideoCapture(int id) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) {
        c->counters[2]++;
        c->capturing = 0;
        c->dropped = 0;                   /* the SDK resets the count on stop */
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetVideoData(int id, unsigned char *buf, long size, int wait_ms) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) c->counters[3]++;
    if (!r && !c->capturing) r = SIM_INVALID_SEQUENCE;
    if (!r && size < (long)c->width * c->height * bytes_per_pixel(c->img_type)) r = SIM_BUFFER_TOO_SMALL;
    if (r) {
        pthread_mutex_unlock(&lock);
        return r;
    }
    long long wait_ns = wait_ms < 0 ? -1 : (long long)wait_ms * 1000000LL;
    if (c->timeouts != 0) {
        if (c->timeouts > 0 && wait_ms != 0) c->timeouts--;
        pthread_mutex_unlock(&lock);
        sleep_ns(wait_ns < 0 ? 0 : (long long)(wait_ns * time_scale));
        return SIM_TIMEOUT;
    }
    long long ready_in = 0;
    if (time_scale > 0) {
        long long interval = (long long)(frame_interval_ns(c) * time_scale);
        long long t = now_ns();
        if (interval > 0 && t > c->next_frame_ns + 2 * interval) {
            /* the reader fell behind: the SDK's small buffer overflowed */
            long long missed = (t - c->next_frame_ns) / interval - 1;
            c->dropped += (int)missed;
            c->frame_no += missed;
            c->next_frame_ns += missed * interval;
        }
        ready_in = c->next_frame_ns - t;
        if (wait_ns >= 0 && ready_in > (long long)(wait_ns * time_scale)) {
            pthread_mutex_unlock(&lock);
            sleep_ns((long long)(wait_ns * time_scale));
            return SIM_TIMEOUT;
        }
        c->next_frame_ns += interval;
    }
    if (c->drop_pending > 0) {
        c->frame_no += c->drop_pending;
        c->dropped += c->drop_pending;
        c->drop_pending = 0;
    }
    long long n = c->frame_no++;
    Cam snapshot = *c;
    pthread_mutex_unlock(&lock);
    sleep_ns(ready_in);
    /* the camera may have been unplugged while we waited for the frame */
    pthread_mutex_lock(&lock);
    int gone = !c->connected;
    pthread_mutex_unlock(&lock);
    if (gone) return SIM_CAMERA_REMOVED;
    render(&snapshot, id, buf, n);
    return 0;
}

/* ------------------------------------------------------------------ SDK: snap mode */

static int exposure_status[N_CAMS];

int ASIStartExposure(int id, int is_dark) {
    (void)is_dark;
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r && c->capturing) r = SIM_VIDEO_MODE_ACTIVE;
    if (!r) exposure_status[id] = 2;          /* virtual clock: done at once */
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIStopExposure(int id) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) exposure_status[id] = 0;
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetExpStatus(int id, int *status) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) *status = exposure_status[id];
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetDataAfterExp(int id, unsigned char *buf, long size) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r && exposure_status[id] != 2) r = SIM_INVALID_SEQUENCE;
    if (!r && size < (long)c->width * c->height * bytes_per_pixel(c->img_type)) r = SIM_BUFFER_TOO_SMALL;
    if (!r) {
        render(c, id, buf, 0);
        exposure_status[id] = 0;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

/* ------------------------------------------------------------------ SDK: the rest */

int ASIEnableDarkSubtract(int id, char *path) {
    Cam *c = NULL;
    pthread_mutex_lock(&lock);
    int r = check(id, &c);
    pthread_mutex_unlock(&lock);
    (void)path;
    return r ? r : SIM_INVALID_PATH;           /* no dark files in the simulator */
}

int ASIDisableDarkSubtract(int id) {
    Cam *c = NULL;
    pthread_mutex_lock(&lock);
    int r = check(id, &c);
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIPulseGuideOn(int id, int direction) {
    (void)direction;
    Cam *c = NULL;
    pthread_mutex_lock(&lock);
    int r = check(id, &c);
    pthread_mutex_unlock(&lock);
    return r ? r : SIM_GENERAL_ERROR;        /* no ST4 port on an ASI662MC */
}

int ASIPulseGuideOff(int id, int direction) { return ASIPulseGuideOn(id, direction); }

int ASIGetID(int id, IdBytes *out) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) memcpy(out->id, c->flash_id, 8);
    pthread_mutex_unlock(&lock);
    return r;
}

int ASISetID(int id, IdBytes value) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) memcpy(c->flash_id, value.id, 8);
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetSerialNumber(int id, IdBytes *sn) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) memcpy(sn->id, c->serial, 8);
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetCameraSupportMode(int id, SupportedModes *modes) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) {
        for (int i = 0; i < 16; i++) modes->SupportedCameraMode[i] = -1;
        modes->SupportedCameraMode[0] = 0;   /* normal mode only: not a trigger camera */
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int ASIGetCameraMode(int id, int *mode) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r) *mode = 0;
    pthread_mutex_unlock(&lock);
    return r;
}

int ASISetCameraMode(int id, int mode) {
    pthread_mutex_lock(&lock);
    Cam *c = NULL;
    int r = check(id, &c);
    if (!r && c->capturing) r = SIM_INVALID_SEQUENCE;
    if (!r && mode != 0) r = SIM_INVALID_MODE;
    pthread_mutex_unlock(&lock);
    return r;
}

int ASISendSoftTrigger(int id, int start) {
    (void)start;
    Cam *c = NULL;
    pthread_mutex_lock(&lock);
    int r = check(id, &c);
    pthread_mutex_unlock(&lock);
    return r ? r : SIM_INVALID_MODE;
}

int ASISetTriggerOutputIOConf(int id, int pin, int high, long delay, long duration) {
    (void)pin; (void)high; (void)delay; (void)duration;
    Cam *c = NULL;
    pthread_mutex_lock(&lock);
    int r = check(id, &c);
    pthread_mutex_unlock(&lock);
    return r ? r : SIM_GENERAL_ERROR;
}

int ASIGetTriggerOutputIOConf(int id, int pin, int *high, long *delay, long *duration) {
    (void)pin;
    Cam *c = NULL;
    pthread_mutex_lock(&lock);
    int r = check(id, &c);
    pthread_mutex_unlock(&lock);
    if (r) return r;
    *high = 0;
    *delay = 0;
    *duration = 0;
    return SIM_GENERAL_ERROR;
}

char *ASIGetSDKVersion(void) { return sdk_version; }

/* ------------------------------------------------------------------ test knobs */

/* Back to power-on: both cameras plugged in and closed, no faults, virtual clock. */
void ASISimReset(void) {
    pthread_mutex_lock(&lock);
    reset_locked();
    for (int i = 0; i < N_CAMS; i++) exposure_status[i] = 0;
    pthread_mutex_unlock(&lock);
}

/* 0: virtual clock (frames at once, timeouts at once); s > 0: real time times s. */
void ASISimSetTimeScale(double scale) {
    pthread_mutex_lock(&lock);
    time_scale = scale < 0 ? 0 : scale;
    pthread_mutex_unlock(&lock);
}

/* Unplug (0) or plug in (1) the camera in slot 0 or 1. Unplugging closes it. */
int ASISimSetConnected(int slot, int connected) {
    if (slot < 0 || slot >= N_CAMS) return -1;
    pthread_mutex_lock(&lock);
    ensure_init();
    cams[slot].connected = connected != 0;
    if (!connected) {
        cams[slot].opened = 0;
        cams[slot].capturing = 0;
    }
    pthread_mutex_unlock(&lock);
    return 0;
}

/* Make reads time out: n > 0 the next n waiting reads; -1 until video restarts;
 * -2 until the camera is reopened; -3 for ever; 0 clears. */
int ASISimTimeouts(int slot, int n) {
    if (slot < 0 || slot >= N_CAMS) return -1;
    pthread_mutex_lock(&lock);
    ensure_init();
    cams[slot].timeouts = n;
    pthread_mutex_unlock(&lock);
    return 0;
}

/* Lose the next n frames (they count as dropped, and the frame counter skips them). */
int ASISimDropFrames(int slot, int n) {
    if (slot < 0 || slot >= N_CAMS) return -1;
    pthread_mutex_lock(&lock);
    ensure_init();
    cams[slot].drop_pending += n;
    pthread_mutex_unlock(&lock);
    return 0;
}

/* How often a call was made: 0 open, 1 start video, 2 stop video, 3 get video data, 4 close. */
long ASISimCounter(int slot, int which) {
    if (slot < 0 || slot >= N_CAMS || which < 0 || which > 4) return -1;
    pthread_mutex_lock(&lock);
    long v = cams[slot].counters[which];
    pthread_mutex_unlock(&lock);
    return v;
}

/* Report whether the host is USB3 for a slot (the link-speed finding). */
int ASISimSetUsb3Host(int slot, int usb3) {
    if (slot < 0 || slot >= N_CAMS) return -1;
    pthread_mutex_lock(&lock);
    ensure_init();
    cams[slot].usb3_host = usb3 != 0;
    pthread_mutex_unlock(&lock);
    return 0;
}

/* sizeof the structs as compiled, for the ABI test against zwoasi's ctypes layouts. */
void ASISimStructSizes(int *camera_info, int *control_caps, int *asi_id) {
    *camera_info = (int)sizeof(CameraInfo);
    *control_caps = (int)sizeof(ControlCaps);
    *asi_id = (int)sizeof(IdBytes);
}
