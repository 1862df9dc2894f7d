//! The module registry: where a service's code is found by name. Stands for
//! `skynet_module.c`.
//!
//! Native (Rust) modules are registered by name at start-up (`logger`,
//! `snlua`, `harbor`, `gate`, ...). Any other name is looked up along
//! `cpath` (`;`-separated patterns with `?`) as a C shared object exporting
//! `NAME_create`, `NAME_init`, `NAME_release` and `NAME_signal` (only init
//! is required; for a dotted name the part after the last dot prefixes the
//! symbols), with the calling convention of skynet.h.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::context::{Context, ForeignCallback};
use crate::message::Message;
use crate::service::{Service, ServiceFactory, SignalHandler};

type CreateFn = unsafe extern "C" fn() -> *mut c_void;
type InitFn = unsafe extern "C" fn(*mut c_void, *mut c_void, *const c_char) -> c_int;
type ReleaseFn = unsafe extern "C" fn(*mut c_void);
type SignalFn = unsafe extern "C" fn(*mut c_void, c_int);

/// A loaded C service module.
pub struct CModule {
    name: String,
    create: Option<CreateFn>,
    init: InitFn,
    release: Option<ReleaseFn>,
    signal: Option<SignalFn>,
    /// Keeps the shared object mapped while the function pointers live.
    _library: libloading::Library,
}

/// Module names live as long as the process (a context keeps its module's
/// name without an allocation of its own): a name is kept once per
/// registered native module and once per C module loaded.
type ModuleName = &'static str;

fn keep_name(name: &str) -> ModuleName {
    Box::leak(name.to_string().into_boxed_str())
}

/// FNV-1a: module names are few and short, and a launch looks its module
/// up by name; the default SipHash costs more than the rest of the lookup.
#[derive(Default)]
struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type NameMap<V> = HashMap<ModuleName, V, std::hash::BuildHasherDefault<NameHasher>>;

pub struct ModuleRegistry {
    path: String,
    natives: RwLock<NameMap<Arc<dyn ServiceFactory>>>,
    foreign: Mutex<NameMap<Arc<CModule>>>,
}

impl ModuleRegistry {
    /// A registry searching C modules along `path` (the `cpath` setting).
    pub fn new(path: &str) -> ModuleRegistry {
        ModuleRegistry {
            path: path.to_string(),
            natives: RwLock::new(NameMap::default()),
            foreign: Mutex::new(NameMap::default()),
        }
    }

    /// Registers a native module.
    pub fn register(&self, name: &str, factory: Arc<dyn ServiceFactory>) {
        let mut natives = self.natives.write();
        match natives.get_mut(name) {
            Some(slot) => *slot = factory,
            None => {
                natives.insert(keep_name(name), factory);
            }
        }
    }

    /// A new instance of module `name`, with the module's name as kept by
    /// the registry. The error text is empty when the module simply does
    /// not exist (the reference says nothing more than its stderr line
    /// then).
    pub fn create(&self, name: &str) -> Result<(Box<dyn Service>, ModuleName), String> {
        {
            // A native factory only builds a struct: it runs under the read
            // lock (no clone of its Arc, whose count every launch would
            // otherwise bounce between the workers).
            let natives = self.natives.read();
            if let Some((kept, f)) = natives.get_key_value(name) {
                return f.create().map(|s| (s, *kept));
            }
        }
        let (module, kept) = self.load_c_module(name).ok_or_else(String::new)?;
        CService::create(module).map(|s| (s, kept))
    }

    fn load_c_module(&self, name: &str) -> Option<(Arc<CModule>, ModuleName)> {
        let mut cache = self.foreign.lock();
        if let Some((kept, m)) = cache.get_key_value(name) {
            return Some((m.clone(), *kept));
        }
        let mut last_error = String::from("no path");
        for pattern in self.path.split(';').filter(|p| !p.is_empty()) {
            let Some(q) = pattern.find('?') else {
                eprintln!("Invalid C service path");
                return None;
            };
            let file = format!("{}{}{}", &pattern[..q], name, &pattern[q + 1..]);
            // SAFETY: loading a shared object runs its initialisers; a C
            // service module is trusted code the operator put on cpath.
            match unsafe {
                libloading::os::unix::Library::open(Some(&file), libc::RTLD_NOW | libc::RTLD_GLOBAL)
            } {
                Ok(lib) => {
                    let lib: libloading::Library = lib.into();
                    let module = open_symbols(name, lib)?;
                    let module = Arc::new(module);
                    let kept = keep_name(name);
                    cache.insert(kept, module.clone());
                    return Some((module, kept));
                }
                // dlerror's own text, as the reference prints it (the
                // libloading error's Display is only "dlopen failed").
                Err(e) => {
                    last_error = std::error::Error::source(&e)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| e.to_string())
                }
            }
        }
        eprintln!("try open {name} failed : {last_error}");
        None
    }
}

fn open_symbols(name: &str, lib: libloading::Library) -> Option<CModule> {
    let prefix = match name.rfind('.') {
        Some(i) => &name[i + 1..],
        None => name,
    };
    let sym = |suffix: &str| -> Option<*mut c_void> {
        let symbol = format!("{prefix}{suffix}\0");
        // SAFETY: we only read the symbol's address; its type is fixed by
        // skynet.h and checked by the module author.
        unsafe {
            lib.get::<*mut c_void>(symbol.as_bytes())
                .ok()
                .map(|s| *s)
                .filter(|p| !p.is_null())
        }
    };
    let init = sym("_init")?;
    let create = sym("_create");
    let release = sym("_release");
    let signal = sym("_signal");
    // SAFETY: the symbols are the module's entry points with the signatures
    // skynet.h gives them.
    unsafe {
        Some(CModule {
            name: name.to_string(),
            init: std::mem::transmute::<*mut c_void, InitFn>(init),
            create: create.map(|p| std::mem::transmute::<*mut c_void, CreateFn>(p)),
            release: release.map(|p| std::mem::transmute::<*mut c_void, ReleaseFn>(p)),
            signal: signal.map(|p| std::mem::transmute::<*mut c_void, SignalFn>(p)),
            _library: lib,
        })
    }
}

/// An instance pointer of a C module (opaque to us).
#[derive(Clone, Copy)]
struct Instance(*mut c_void);
// SAFETY: skynet.h services are dispatched from any worker thread, one at a
// time; `NAME_signal` is documented as thread-safe by the same contract.
unsafe impl Send for Instance {}
// SAFETY: see above; the pointer is only passed back to the module.
unsafe impl Sync for Instance {}

impl Instance {
    fn ptr(self) -> *mut c_void {
        self.0
    }
}

/// A running instance of a C service module.
struct CService {
    module: Arc<CModule>,
    instance: Instance,
}

impl CService {
    fn create(module: Arc<CModule>) -> Result<Box<dyn Service>, String> {
        let instance = match module.create {
            // SAFETY: calling the module's own constructor.
            Some(f) => unsafe { f() },
            None => usize::MAX as *mut c_void,
        };
        if instance.is_null() {
            return Err(format!("{}_create failed", module.name));
        }
        Ok(Box::new(CService {
            module,
            instance: Instance(instance),
        }))
    }
}

impl Service for CService {
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        let args = CString::new(args).map_err(|_| "argument holds a NUL byte".to_string())?;
        let ctx_ptr = Arc::as_ptr(ctx) as *mut c_void;
        // SAFETY: the module's init with its instance, our context pointer
        // (valid for the whole life of the instance) and a NUL-terminated
        // argument string that outlives the call.
        let r = unsafe { (self.module.init)(self.instance.0, ctx_ptr, args.as_ptr()) };
        if r == 0 {
            Ok(())
        } else {
            Err(String::new())
        }
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        let callback: Option<ForeignCallback> = ctx.foreign().lock().callback;
        let Some(cb) = callback else {
            return;
        };
        let (ptr, len) = msg.payload.into_raw();
        let ctx_ptr = Arc::as_ptr(ctx) as *mut c_void;
        // SAFETY: skynet.h's callback contract: the context, the user data
        // the service registered, and a message buffer it may keep (by
        // returning non-zero) or that we free afterwards.
        let keep = unsafe {
            (cb.cb)(
                ctx_ptr,
                cb.ud,
                msg.ptype as c_int,
                msg.session,
                msg.source,
                ptr as *const c_void,
                len,
            )
        };
        if keep == 0 && !ptr.is_null() {
            // SAFETY: the buffer came from the C allocator and the callback
            // declined to keep it.
            unsafe { libc::free(ptr.cast()) };
        }
    }

    fn signal_handler(&self) -> Option<SignalHandler> {
        let f = self.module.signal?;
        let instance = self.instance;
        let module = self.module.clone();
        Some(Arc::new(move |sig| {
            let _keep = &module;
            // SAFETY: the module's signal entry point with its own instance;
            // skynet.h requires it to be thread-safe.
            unsafe { f(instance.ptr(), sig) }
        }))
    }
}

impl Drop for CService {
    fn drop(&mut self) {
        if let Some(release) = self.module.release {
            // SAFETY: the instance is released once, after its last dispatch.
            unsafe { release(self.instance.0) };
        }
    }
}
