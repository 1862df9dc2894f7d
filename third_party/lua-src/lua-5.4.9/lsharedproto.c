/*
** lsharedproto.c -- skynet-rs addition to Lua 5.4: function prototypes
** shared by every Lua state of the process.
**
** skynet starts many services from the same files. Instead of giving each
** state its own copy of the compiled code, a "template" state (owned by
** skynet-rs's code cache, used under a lock) loads a file once and
** 'skynetrs_share_proto' turns the loaded prototype tree into immortal,
** read-only objects: each prototype and every string it refers to is
** flagged SHAREDBIT and moved from the template's 'allgc' list to its
** 'fixedgc' list, gray, so that no collector -- the template's or any
** other state's -- ever marks, sweeps or frees it (marking only touches
** white objects). 'skynetrs_push_shared' then builds, in any state, a new
** closure of such a prototype, as 'lua_load' would.
**
** Strings: a state finds a shared string equal to its own ones because
** every state of the process hashes with the same seed (lstate.c) and
** 'eqshrstr' compares the contents when either string is shared
** (lstring.h, ltable.c). Long strings get their hash computed here, so no
** reader ever writes it later.
**
** Names: 'skynetrs_share_names' freezes, once per process, the short
** strings of a state that has just opened the standard libraries (their
** function and field names) into a read-only set. A state switched on by
** 'skynetrs_use_shared_names' interns a string it does not hold yet from
** that set before making its own copy (lstring.c), so opening the
** libraries in a new state allocates none of those names.
*/

#define lsharedproto_c
#define LUA_CORE

#include "lprefix.h"

#include <stdlib.h>
#include <string.h>

#include "lua.h"

#include "lapi.h"
#include "lfunc.h"
#include "lgc.h"
#include "lobject.h"
#include "lstate.h"
#include "lstring.h"


LUAI_FUNC int luaS_eqsharedstr (TString *a, TString *b) {
  return a->hash == b->hash && a->shrlen == b->shrlen &&
         memcmp(getshrstr(a), getshrstr(b), a->shrlen) == 0;
}


static void flag_string (TString *ts) {
  if (ts == NULL)
    return;
  if (ts->tt == LUA_VLNGSTR)
    luaS_hashlongstr(ts);  /* now, while only the template sees it */
  l_setbit(ts->marked, SHAREDBIT);
}


static void flag_tree (Proto *p) {
  int i;
  if (testbit(p->marked, SHAREDBIT))
    return;  /* shared with an earlier file */
  l_setbit(p->marked, SHAREDBIT);
  flag_string(p->source);
  for (i = 0; i < p->sizek; i++) {
    if (ttisstring(&p->k[i]))
      flag_string(tsvalue(&p->k[i]));
  }
  for (i = 0; i < p->sizeupvalues; i++)
    flag_string(p->upvalues[i].name);
  for (i = 0; i < p->sizelocvars; i++)
    flag_string(p->locvars[i].varname);
  for (i = 0; i < p->sizep; i++)
    flag_tree(p->p[i]);
}


/* Moves every flagged object of 'allgc' to 'fixedgc', gray and old for good
** (what 'luaC_fix' does for one new object). Objects already fixed (the
** reserved words, metamethod names) stay where they are. */
static void fix_flagged (global_State *g) {
  GCObject **link = &g->allgc;
  while (*link != NULL) {
    GCObject *o = *link;
    if (testbit(o->marked, SHAREDBIT)) {
      *link = o->next;
      resetbits(o->marked, WHITEBITS | bitmask(BLACKBIT));
      setage(o, G_OLD);
      o->next = g->fixedgc;
      g->fixedgc = o;
    }
    else
      link = &o->next;
  }
}


/*
** Shares the prototype of the Lua function at 'idx' of the template state
** 'L' (which must stay open for the rest of the process and never switch
** to generational mode) and returns it, or NULL when the value is not a
** Lua function.
*/
LUA_API const void *skynetrs_share_proto (lua_State *L, int idx) {
  const LClosure *cl;
  Proto *p;
  if (lua_type(L, idx) != LUA_TFUNCTION || lua_iscfunction(L, idx))
    return NULL;
  cl = (const LClosure *)lua_topointer(L, idx);
  p = cl->p;
  /* a whole cycle first: no sweep is under way while lists change */
  lua_gc(L, LUA_GCCOLLECT);
  lua_lock(L);
  flag_tree(p);
  fix_flagged(G(L));
  lua_unlock(L);
  return p;
}


/*
** Pushes onto 'L' a new closure of the shared prototype 'proto', with fresh
** (nil) upvalues and, as 'lua_load' does for a main chunk, the global
** table as its first upvalue.
*/
LUA_API void skynetrs_push_shared (lua_State *L, const void *proto) {
  Proto *p = (Proto *)proto;
  LClosure *cl;
  lua_lock(L);
  cl = luaF_newLclosure(L, p->sizeupvalues);
  cl->p = p;
  setclLvalue2s(L, L->top.p, cl);
  api_incr_top(L);
  luaF_initupvals(L, cl);
  if (cl->nupvalues >= 1) {
    const TValue *gt = &hvalue(&G(L)->l_registry)->array[LUA_RIDX_GLOBALS - 1];
    setobj(L, cl->upvals[0]->v.p, gt);
    luaC_barrier(L, cl->upvals[0], gt);
  }
  lua_unlock(L);
}


/* the frozen name set: open addressing, linear probing, never written
** after 'skynetrs_share_names' returns */
static TString **names_slots = NULL;
static unsigned int names_mask = 0;


static void names_insert (TString *ts) {
  unsigned int i = ts->hash & names_mask;
  while (names_slots[i] != NULL) {
    if (names_slots[i] == ts)
      return;
    i = (i + 1) & names_mask;
  }
  names_slots[i] = ts;
}


LUAI_FUNC TString *luaS_findsharedname (const char *str, size_t l,
                                        unsigned int h) {
  unsigned int i;
  TString *ts;
  if (names_slots == NULL)
    return NULL;
  for (i = h & names_mask; (ts = names_slots[i]) != NULL;
       i = (i + 1) & names_mask) {
    if (ts->hash == h && ts->shrlen == l &&
        memcmp(getshrstr(ts), str, l * sizeof(char)) == 0)
      return ts;
  }
  return NULL;
}


/*
** Freezes every short string of the state 'L' (which must stay open for
** the rest of the process) into the shared name set. To be called once,
** before any state uses the set; returns the number of names, or -1 when
** the set exists already or memory is short.
*/
LUA_API int skynetrs_share_names (lua_State *L) {
  global_State *g = G(L);
  stringtable *tb = &g->strt;
  unsigned int size = 16;
  int i, n = 0;
  if (names_slots != NULL)
    return -1;
  while (size < 2u * (unsigned int)tb->nuse)
    size *= 2;
  lua_gc(L, LUA_GCCOLLECT);  /* no sweep under way while lists change */
  names_slots = (TString **)calloc(size, sizeof(TString *));
  if (names_slots == NULL)
    return -1;
  names_mask = size - 1;
  lua_lock(L);
  for (i = 0; i < tb->size; i++) {
    TString *ts;
    for (ts = tb->hash[i]; ts != NULL; ts = ts->u.hnext) {
      l_setbit(ts->marked, SHAREDBIT);
      names_insert(ts);
      n++;
    }
  }
  fix_flagged(g);
  lua_unlock(L);
  return n;
}


/* Makes 'L' intern from the shared name set (see 'skynetrs_share_names'). */
LUA_API void skynetrs_use_shared_names (lua_State *L) {
  G(L)->sharednames = 1;
}
