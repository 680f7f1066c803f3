// mdevsim native shim: shared declarations.
//
// Rules for every file in native/src (docs/native.md; a thin Node-API
// addon): syscalls and argument validation only. Ownership, errno
// classification and lifetimes live in src/sys/*.ts.
//
// Error contract:
//   - a syscall failure throws Error{code: 'EBADF', errno: 9, syscall: 'close'}
//     (plus `path` for path-based calls);
//   - a wrong argument type throws TypeError{code: 'ERR_INVALID_ARG_TYPE'} and
//     a well-typed but out-of-range argument throws
//     RangeError{code: 'ERR_OUT_OF_RANGE'}; both name the function and the
//     parameter.
// Exceptions are set as pending JS exceptions (NAPI_DISABLE_CPP_EXCEPTIONS):
// every helper returning bool has thrown when it returns false, and the caller
// returns at once.
#pragma once

#include <napi.h>

#include <cstdint>

namespace mdevsim {

// --- errors.cc ---------------------------------------------------------------
void ThrowErrno(Napi::Env env, const char* syscall, int err, const char* path = nullptr);
void ThrowTypeError(Napi::Env env, const char* fn, const char* param, const char* expected);
void ThrowRangeError(Napi::Env env, const char* fn, const char* param, const char* what);

// Argument readers. Each returns false after throwing.
// An integer-valued number in [min, max] (max at most 2^53 - 1).
bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param,
            int64_t min, int64_t max, int64_t* out);
// A file descriptor: integer in [0, INT32_MAX].
bool ArgFd(const Napi::CallbackInfo& info, size_t i, const char* fn, int* out, const char* param = "fd");
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param, bool* out);
// A non-empty string without NUL bytes (length limits are the syscall's to check).
bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param,
               std::string* out);
// A Uint8Array (Buffer included); data may be null when length is 0.
bool ArgBytes(Napi::Env env, Napi::Value v, const char* fn, const char* param, uint8_t** data,
              size_t* length);
// An Int32Array; data may be null when length is 0.
bool ArgInt32Array(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param,
                   int32_t** data, size_t* length);
bool ArgArrayBuffer(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param,
                    Napi::ArrayBuffer* out);

// --- scm.cc ------------------------------------------------------------------
// Receive status slots shared with TypeScript (Int32Array of RECV_STATUS_LEN).
enum RecvStatus : int {
  kRecvNread = 0,   // bytes stored this call
  kRecvNfds = 1,    // fds stored in fdsOut
  kRecvFdsAt = 2,   // offset (relative to the call's start offset) of the recvmsg that carried the fds
  kRecvFlags = 3,   // RECV_FLAG_*
  kRecvErrno = 4,   // errno of a failing recvmsg after the bytes above, else 0
  kRecvStatusLen = 5,
};
enum RecvFlag : int {
  kRecvFlagEof = 1,     // peer closed (recvmsg returned 0)
  kRecvFlagCtrunc = 2,  // MSG_CTRUNC: more fds were sent than fit; the kernel closed the excess
  kRecvFlagFull = 4,    // the buffer filled up; more data may be queued
};
// Drain a stream socket: recvmsg (MSG_DONTWAIT) into buf until EAGAIN, a short
// read, EOF, an error, a batch of fds, or a full buffer. Never throws; status
// gets the outcome. Received fds are stored in fdsOut (excess beyond
// fdsCap is closed and reported as CTRUNC).
void DrainRecv(int fd, uint8_t* buf, size_t cap, int maxFds, int32_t* fdsOut, size_t fdsCap,
               int32_t* status);

// --- export tables, one per file ----------------------------------------------
void InitFd(Napi::Env env, Napi::Object exports);
void InitMemfd(Napi::Env env, Napi::Object exports);
void InitMmap(Napi::Env env, Napi::Object exports);
void InitScm(Napi::Env env, Napi::Object exports);
void InitDgram(Napi::Env env, Napi::Object exports);
void InitEventfd(Napi::Env env, Napi::Object exports);
void InitWatcher(Napi::Env env, Napi::Object exports);

}  // namespace mdevsim
