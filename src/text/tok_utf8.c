/* tok_utf8.c — UTF-8 helpers for the tokenizer: validation with maximal-subpart error recovery
 * (same U+FFFD placement as Rust's String::from_utf8_lossy, which HF decode uses) and the GPT-2
 * byte-level map (bytes_to_unicode) with its inverse. */
#include "text/tok_internal.h"

int lt_u8_step(const unsigned char *s, size_t n) {
  unsigned b = s[0];
  if (b < 0x80) return 1;
  int len; unsigned lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) len = 2;
  else if (b == 0xE0) { len = 3; lo = 0xA0; }
  else if (b == 0xED) { len = 3; hi = 0x9F; }
  else if (b >= 0xE1 && b <= 0xEF) len = 3;
  else if (b == 0xF0) { len = 4; lo = 0x90; }
  else if (b >= 0xF1 && b <= 0xF3) len = 4;
  else if (b == 0xF4) { len = 4; hi = 0x8F; }
  else return -1;
  if (n < 2) return 0;
  if (s[1] < lo || s[1] > hi) return -1;
  for (int i = 2; i < len; i++) {
    if ((size_t)i >= n) return 0;
    if ((s[i] & 0xC0) != 0x80) return -i;
  }
  return len;
}

size_t lt_u8_valid_prefix(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    /* ASCII fast path, 8 bytes at a time */
    while (i + 8 <= n) {
      uint64_t v; memcpy(&v, s + i, 8);
      if (v & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (s[i] < 0x80) { i++; continue; }
    int l = lt_u8_step(s + i, n - i);
    if (l <= 0) return i;
    i += (size_t)l;
  }
  return n;
}

void lt_u8_lossy(lt_sbuf *b, const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t ok = lt_u8_valid_prefix(s + i, n - i);
    if (ok) lt_sbuf_put(b, s + i, ok);
    i += ok;
    if (i >= n) break;
    int l = lt_u8_step(s + i, n - i);
    lt_sbuf_put(b, "\xEF\xBF\xBD", 3);
    i += l < 0 ? (size_t)-l : n - i; /* l == 0: truncated tail, one U+FFFD for all of it */
  }
}

int lt_u8_decode(const unsigned char *s, uint32_t *cp) {
  unsigned b = s[0];
  if (b < 0x80) { *cp = b; return 1; }
  if (b < 0xE0) { *cp = ((b & 0x1Fu) << 6) | (s[1] & 0x3Fu); return 2; }
  if (b < 0xF0) { *cp = ((b & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu); return 3; }
  *cp = ((b & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
  return 4;
}

int lt_u8_encode(uint32_t cp, char *o) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to 256.. in order. */
#define P(b) ((b) >= 33 && (b) <= 126) || ((b) >= 161 && (b) <= 172) || ((b) >= 174)
static uint16_t byte2cp_tab[256];
static int16_t cp2byte_tab[324];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;
static void tab_init(void) {
  int k = 0;
  for (int i = 0; i < 324; i++) cp2byte_tab[i] = -1;
  for (int b = 0; b < 256; b++) {
    byte2cp_tab[b] = (P(b)) ? (uint16_t)b : (uint16_t)(256 + k++);
    cp2byte_tab[byte2cp_tab[b]] = (int16_t)b;
  }
}
#undef P
const uint16_t *lt_byte2cp_table(void) { pthread_once(&tab_once, tab_init); return byte2cp_tab; }
int lt_cp2byte(uint32_t cp) { pthread_once(&tab_once, tab_init); return cp < 324 ? cp2byte_tab[cp] : -1; }
