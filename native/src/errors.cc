// Error objects and argument readers (node-usb helpers.h style: every entry
// point validates its arguments and names the parameter it rejects).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "native.h"

namespace mdevsim {

namespace {

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#endif
  char buf[24];
  std::snprintf(buf, sizeof buf, "E%d", err);
  return buf;
}

const char* TypeName(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
  }
  return "unknown";
}

void ThrowWithCode(Napi::Error error, const char* code) {
  error.Set("code", Napi::String::New(error.Env(), code));
  error.ThrowAsJavaScriptException();
}

}  // namespace

void ThrowErrno(Napi::Env env, const char* syscall, int err, const char* path) {
  const std::string code = ErrnoName(err);
  std::string message = code + ": " + std::strerror(err) + ", " + syscall;
  if (path != nullptr) message += std::string(" '") + path + "'";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, code));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (path != nullptr) error.Set("path", Napi::String::New(env, path));
  error.ThrowAsJavaScriptException();
}

void ThrowTypeError(Napi::Env env, const char* fn, const char* param, const char* expected) {
  std::string message = std::string(fn) + ": argument '" + param + "' must be " + expected;
  ThrowWithCode(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_TYPE");
}

void ThrowRangeError(Napi::Env env, const char* fn, const char* param, const char* what) {
  std::string message = std::string(fn) + ": argument '" + param + "' " + what;
  ThrowWithCode(Napi::RangeError::New(env, message), "ERR_OUT_OF_RANGE");
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param, int64_t min,
            int64_t max, int64_t* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    std::string expected = std::string("an integer (got ") + TypeName(v) + ")";
    ThrowTypeError(info.Env(), fn, param, expected.c_str());
    return false;
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  // 2^53: every integer below it is exact in a double.
  if (!std::isfinite(d) || d != std::trunc(d) || d < static_cast<double>(min) ||
      d > static_cast<double>(max) || std::fabs(d) > 9007199254740991.0) {
    std::string what = "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                       "] (got " + std::to_string(d) + ")";
    ThrowRangeError(info.Env(), fn, param, what.c_str());
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ArgFd(const Napi::CallbackInfo& info, size_t i, const char* fn, int* out, const char* param) {
  int64_t v = 0;
  if (!ArgInt(info, i, fn, param, 0, INT32_MAX, &v)) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param, bool* out) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) {
    std::string expected = std::string("a boolean (got ") + TypeName(v) + ")";
    ThrowTypeError(info.Env(), fn, param, expected.c_str());
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param,
               std::string* out) {
  Napi::Value v = info[i];
  if (!v.IsString()) {
    std::string expected = std::string("a string (got ") + TypeName(v) + ")";
    ThrowTypeError(info.Env(), fn, param, expected.c_str());
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  if (out->empty() || out->find('\0') != std::string::npos) {
    ThrowRangeError(info.Env(), fn, param, "must be non-empty and contain no NUL character");
    return false;
  }
  return true;
}

// One napi_get_typedarray_info per argument (Napi::TypedArray's accessors
// each query it again): these run on every sendmsg / recvmsg.
static bool TypedArrayOf(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr) != napi_ok) return false;
  return type == want;
}

bool ArgBytes(Napi::Env env, Napi::Value v, const char* fn, const char* param, uint8_t** data,
              size_t* length) {
  void* p = nullptr;
  if (!TypedArrayOf(env, v, napi_uint8_array, &p, length)) {
    std::string expected = std::string("a Uint8Array (got ") + TypeName(v) + ")";
    ThrowTypeError(env, fn, param, expected.c_str());
    return false;
  }
  *data = *length == 0 ? nullptr : static_cast<uint8_t*>(p);
  return true;
}

bool ArgInt32Array(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param,
                   int32_t** data, size_t* length) {
  Napi::Value v = info[i];
  void* p = nullptr;
  if (!TypedArrayOf(info.Env(), v, napi_int32_array, &p, length)) {
    std::string expected = std::string("an Int32Array (got ") + TypeName(v) + ")";
    ThrowTypeError(info.Env(), fn, param, expected.c_str());
    return false;
  }
  *data = *length == 0 ? nullptr : static_cast<int32_t*>(p);
  return true;
}

bool ArgArrayBuffer(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* param,
                    Napi::ArrayBuffer* out) {
  Napi::Value v = info[i];
  if (!v.IsArrayBuffer()) {
    std::string expected = std::string("an ArrayBuffer (got ") + TypeName(v) + ")";
    ThrowTypeError(info.Env(), fn, param, expected.c_str());
    return false;
  }
  *out = v.As<Napi::ArrayBuffer>();
  return true;
}

}  // namespace mdevsim
