//! A pickle opcode walker that understands exactly what `joblib.dump(arr)` writes for one
//! float32/float64 array, and nothing else. It never calls or imports anything: globals are
//! matched by name against four allowed ones and become inert tags.
//!
//! The stream joblib writes (protocol 4; protocol 2 uses `GLOBAL`/`BINPUT`/`BINUNICODE`):
//!
//! ```text
//! PROTO 4, FRAME n
//! "joblib.numpy_pickle" "NumpyArrayWrapper" STACK_GLOBAL, EMPTY_TUPLE, NEWOBJ   -> wrapper
//! EMPTY_DICT, MARK,
//!   "subclass" <numpy.ndarray>, "shape" (d0, d1, ...), "order" "C"|"F",
//!   "dtype" <numpy.dtype> ("f8", False, True) REDUCE (3, "<", None, None, None, -1, -1, 0) BUILD,
//!   "allow_mmap" bool, "numpy_array_alignment_bytes" 16|None (absent before joblib 1.2),
//! SETITEMS, BUILD                                  <- the frame ends here
//! [padding length p (1 byte), p padding bytes]     <- when the alignment is an int
//! raw array bytes, in `order`, count x itemsize
//! STOP
//! ```
//!
//! (`MEMOIZE`/`BINPUT` follow most values; `BINGET` re-uses memoised strings and globals.)

use std::collections::HashMap;
use std::rc::Rc;

use super::numpy::{
    Dtype, Global, Kind, WrapperState, decode, dtype_byte_order, global_name, resolve_global, wrapper_state,
};
use super::opcodes::{opcode_name, refused_opcode};
use super::problem::JoblibProblem;
use super::{NpyArray, NpyData};

type Res<T> = Result<T, JoblibProblem>;

/// Deepest nesting of tuples and dicts accepted (joblib's header nests 2 deep).
const MAX_DEPTH: u8 = 8;
/// Longest string accepted (joblib's longest is the 27-byte `numpy_array_alignment_bytes`).
const MAX_STR: u64 = 4096;
/// Most values on the stack, marks and memo entries (joblib's header needs about 20), and most
/// items in one tuple or dict (numpy allows 64 dimensions): with these, memory stays a few MB
/// whatever the input, even if a stream of `NONE` opcodes inflates to gigabytes.
const MAX_STACK: usize = 256;
const MAX_MEMO: usize = 4096;
const MAX_ITEMS: usize = 64;

/// The values the machine can hold. Containers are reference-counted so that memo copies
/// cost nothing, and carry their nesting depth so that drops cannot recurse deeply.
#[derive(Debug, Clone)]
pub(super) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(Rc<str>),
    Tuple(Rc<Vec<Value>>, u8),
    Dict(Rc<Vec<(Value, Value)>>, u8),
    Global(Global),
    Dtype(Dtype),
    /// A `NumpyArrayWrapper` before its BUILD.
    Wrapper,
    /// The array (after the wrapper's BUILD); its data is in `Machine::array`.
    Array,
}

impl Value {
    fn depth(&self) -> u8 {
        match self {
            Value::Tuple(_, d) | Value::Dict(_, d) => *d,
            _ => 0,
        }
    }
    /// A short description for messages (never the full contents).
    pub(super) fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => format!("the int {i}"),
            Value::Str(s) => format!("the string {:?}", truncate(s)),
            Value::Tuple(items, _) => format!("a tuple of {} item(s)", items.len()),
            Value::Dict(items, _) => format!("a dict of {} item(s)", items.len()),
            Value::Global(g) => format!("the class {}", global_name(*g)),
            Value::Dtype(_) => "a numpy dtype".into(),
            Value::Wrapper => "a NumpyArrayWrapper without its state".into(),
            Value::Array => "an array".into(),
        }
    }
}

pub(super) fn truncate(s: &str) -> String {
    if s.chars().count() <= 40 { s.to_string() } else { format!("{}...", s.chars().take(40).collect::<String>()) }
}

fn container_depth(items: impl Iterator<Item = u8>) -> u8 {
    items.max().unwrap_or(0).saturating_add(1)
}

/// Walks the pickle `data` and returns its one array.
pub(crate) fn parse(data: &[u8]) -> Res<NpyArray> {
    Machine { data, pos: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), array: None }.run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    array: Option<NpyArray>,
}

impl<'a> Machine<'a> {
    fn run(mut self) -> Res<NpyArray> {
        loop {
            let offset = self.pos;
            let op = self.take(1, "the next opcode")?[0];
            match op {
                0x80 => {
                    // PROTO
                    let proto = self.take(1, "PROTO's argument")?[0];
                    if offset != 0 || !(2..=5).contains(&proto) {
                        return Err(
                            self.malformed(offset, format!("PROTO {proto} (joblib writes protocol 2-5, first)"))
                        );
                    }
                }
                0x95 => {
                    // FRAME: a length hint; the bytes themselves are read as usual.
                    let len = self.u64_le("FRAME's length")?;
                    let available = (self.data.len() - self.pos) as u64;
                    if len > available {
                        return Err(self.truncated(self.pos, "the frame", len));
                    }
                }
                b'.' => return self.stop(offset),
                b'(' => self.marks.push(self.stack.len()),
                b')' => self.stack.push(Value::Tuple(Rc::new(Vec::new()), 1)),
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n + self.marks.last().copied().unwrap_or(0) {
                        return Err(
                            self.malformed(offset, format!("TUPLE{n} on a stack of {} item(s)", self.stack.len()))
                        );
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push_tuple(offset, items)?;
                }
                b't' => {
                    let items = self.pop_mark(offset)?;
                    self.push_tuple(offset, items)?;
                }
                b'}' => self.stack.push(Value::Dict(Rc::new(Vec::new()), 1)),
                b's' | b'u' => {
                    let items = if op == b's' { self.pop_n(offset, 2)? } else { self.pop_mark(offset)? };
                    self.set_items(offset, items)?;
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let b = self.take(4, "BININT's argument")?;
                    self.stack.push(Value::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64));
                }
                b'K' => {
                    let b = self.take(1, "BININT1's argument")?[0];
                    self.stack.push(Value::Int(b as i64));
                }
                b'M' => {
                    let b = self.take(2, "BININT2's argument")?;
                    self.stack.push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
                }
                0x8a => {
                    // LONG1: n bytes, little-endian two's complement.
                    let n = self.take(1, "LONG1's length")?[0] as usize;
                    if n > 8 {
                        return Err(self.malformed(offset, format!("an integer of {n} bytes")));
                    }
                    let b = self.take(n, "LONG1's bytes")?;
                    let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) { [0xff; 8] } else { [0; 8] };
                    buf[..n].copy_from_slice(b);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                0x8c | b'U' => {
                    let n = self.take(1, "the string's length")?[0] as u64;
                    self.push_str(offset, n)?;
                }
                b'X' | b'T' => {
                    let b = self.take(4, "the string's length")?;
                    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
                    self.push_str(offset, n)?;
                }
                0x8d => {
                    let n = self.u64_le("the string's length")?;
                    self.push_str(offset, n)?;
                }
                b'c' => {
                    let module = self.line(offset)?;
                    let name = self.line(offset)?;
                    self.push_global(offset, &module, &name)?;
                }
                0x93 => {
                    let [module, name] = self.pop_n(offset, 2)?.try_into().map_err(|_| self.underflow(offset))?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.push_global(offset, &m, &n)?,
                        (m, n) => {
                            let reason = format!("STACK_GLOBAL of {} and {}", m.describe(), n.describe());
                            return Err(self.malformed(offset, reason));
                        }
                    }
                }
                0x94 => {
                    let index = self.memo.len() as u32;
                    self.memoize(offset, index)?;
                }
                b'q' | b'r' => {
                    let index = self.memo_index(op == b'q')?;
                    self.memoize(offset, index)?;
                }
                b'h' | b'j' => {
                    let index = self.memo_index(op == b'h')?;
                    let value = self.memo.get(&index).cloned();
                    let value =
                        value.ok_or_else(|| self.malformed(offset, format!("memo {index} read before it is set")))?;
                    self.stack.push(value);
                }
                0x81 => self.newobj(offset)?,
                b'R' => self.reduce(offset)?,
                b'b' => self.build(offset)?,
                _ => return Err(refused_opcode(op, offset)),
            }
            if self.stack.len() > MAX_STACK || self.marks.len() > MAX_STACK {
                return Err(self.malformed(offset, format!("more than {MAX_STACK} values or marks on the stack")));
            }
        }
    }

    fn stop(mut self, offset: usize) -> Res<NpyArray> {
        let count = self.data.len() - self.pos;
        if count > 0 {
            return Err(JoblibProblem::TrailingBytes { offset, count });
        }
        let array = self.array.take();
        match (self.stack.as_slice(), array) {
            ([Value::Array], Some(array)) if self.marks.is_empty() => Ok(array),
            ([], _) => Err(self.malformed(offset, "STOP on an empty stack".into())),
            ([.., top], _) if self.stack.len() > 1 || !self.marks.is_empty() => Err(self.malformed(
                offset,
                format!("STOP with {} items left on the stack (top: {})", self.stack.len(), top.describe()),
            )),
            ([top], _) => Err(JoblibProblem::NotOneArray { found: top.describe() }),
            _ => Err(self.malformed(offset, "STOP in an impossible state".into())),
        }
    }

    // ---- reading bytes

    fn take(&mut self, n: usize, what: &str) -> Res<&'a [u8]> {
        let available = self.data.len() - self.pos;
        if n > available {
            return Err(self.truncated(self.pos, what, n as u64));
        }
        let data: &'a [u8] = self.data;
        let out = &data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u64_le(&mut self, what: &str) -> Res<u64> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    fn memo_index(&mut self, short: bool) -> Res<u32> {
        Ok(if short {
            self.take(1, "the memo index")?[0] as u32
        } else {
            let b = self.take(4, "the memo index")?;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })
    }

    /// A newline-terminated argument of GLOBAL.
    fn line(&mut self, offset: usize) -> Res<String> {
        let rest = &self.data[self.pos..];
        let window = &rest[..rest.len().min(MAX_STR as usize)];
        let Some(end) = window.iter().position(|&b| b == b'\n') else {
            if rest.len() < MAX_STR as usize {
                return Err(self.truncated(self.pos, "GLOBAL's newline-terminated argument", rest.len() as u64 + 1));
            }
            return Err(self.malformed(offset, "a GLOBAL argument without a newline".into()));
        };
        let text = std::str::from_utf8(&window[..end])
            .map_err(|_| self.malformed(offset, "a GLOBAL argument that is not UTF-8".into()))?
            .to_string();
        self.pos += end + 1;
        Ok(text)
    }

    fn push_str(&mut self, offset: usize, n: u64) -> Res<()> {
        if n > MAX_STR {
            let available = (self.data.len() - self.pos) as u64;
            if n > available {
                return Err(self.truncated(self.pos, "the string", n));
            }
            return Err(self.malformed(offset, format!("a string of {n} bytes (joblib's header strings are short)")));
        }
        let bytes = self.take(n as usize, "the string")?;
        let text =
            std::str::from_utf8(bytes).map_err(|_| self.malformed(offset, "a string that is not UTF-8".into()))?;
        self.stack.push(Value::Str(text.into()));
        Ok(())
    }

    // ---- the stack

    fn top(&self, offset: usize) -> Res<&Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.underflow(offset));
        }
        self.stack.last().ok_or_else(|| self.underflow(offset))
    }

    fn pop_n(&mut self, offset: usize, n: usize) -> Res<Vec<Value>> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() < floor + n {
            return Err(self.underflow(offset));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self, offset: usize) -> Res<Vec<Value>> {
        let mark = self.marks.pop().ok_or_else(|| self.malformed(offset, "no MARK to pop to".into()))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn memoize(&mut self, offset: usize, index: u32) -> Res<()> {
        let top = self.top(offset)?.clone();
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&index) {
            return Err(self.malformed(offset, format!("more than {MAX_MEMO} memo entries")));
        }
        self.memo.insert(index, top);
        Ok(())
    }

    fn push_tuple(&mut self, offset: usize, items: Vec<Value>) -> Res<()> {
        if items.len() > MAX_ITEMS {
            return Err(self.malformed(offset, format!("a tuple of more than {MAX_ITEMS} items")));
        }
        let depth = container_depth(items.iter().map(Value::depth));
        if depth > MAX_DEPTH {
            return Err(self.malformed(offset, format!("tuples nested more than {MAX_DEPTH} deep")));
        }
        self.stack.push(Value::Tuple(Rc::new(items), depth));
        Ok(())
    }

    fn set_items(&mut self, offset: usize, items: Vec<Value>) -> Res<()> {
        if items.len() % 2 != 0 {
            return Err(self.malformed(offset, format!("SETITEMS with an odd number ({}) of items", items.len())));
        }
        let floor = self.marks.last().copied().unwrap_or(0);
        let dict = if self.stack.len() > floor { self.stack.pop() } else { None };
        let Some(Value::Dict(dict, _)) = dict else {
            return Err(self.malformed(offset, "SETITEM(S) on something that is not a dict".into()));
        };
        if dict.len() + items.len() / 2 > MAX_ITEMS {
            return Err(self.malformed(offset, format!("a dict of more than {MAX_ITEMS} items")));
        }
        let mut entries = Rc::unwrap_or_clone(dict);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            entries.push((k, v));
        }
        let depth = container_depth(entries.iter().map(|(k, v)| k.depth().max(v.depth())));
        if depth > MAX_DEPTH {
            return Err(self.malformed(offset, format!("dicts nested more than {MAX_DEPTH} deep")));
        }
        self.stack.push(Value::Dict(Rc::new(entries), depth));
        Ok(())
    }

    fn push_global(&mut self, offset: usize, module: &str, name: &str) -> Res<()> {
        let global = resolve_global(module, name).ok_or_else(|| JoblibProblem::RefusedGlobal {
            module: truncate(module),
            name: truncate(name),
            offset,
        })?;
        self.stack.push(Value::Global(global));
        Ok(())
    }

    // ---- object construction: only the wrapper and the dtype

    fn newobj(&mut self, offset: usize) -> Res<()> {
        let [cls, args] = self.pop_n(offset, 2)?.try_into().map_err(|_| self.underflow(offset))?;
        match (&cls, &args) {
            (Value::Global(Global::Wrapper), Value::Tuple(items, _)) if items.is_empty() => {
                self.stack.push(Value::Wrapper);
                Ok(())
            }
            _ => Err(JoblibProblem::RefusedCall {
                opcode: "NEWOBJ",
                callable: format!("{} with {}", cls.describe(), args.describe()),
                offset,
            }),
        }
    }

    fn reduce(&mut self, offset: usize) -> Res<()> {
        let [callable, args] = self.pop_n(offset, 2)?.try_into().map_err(|_| self.underflow(offset))?;
        let Value::Global(Global::Dtype) = callable else {
            return Err(JoblibProblem::RefusedCall { opcode: "REDUCE", callable: callable.describe(), offset });
        };
        let descr = match &args {
            Value::Tuple(items, _) if (1..=3).contains(&items.len()) => match &items[0] {
                Value::Str(s) => s.clone(),
                other => return Err(self.malformed(offset, format!("numpy.dtype of {}", other.describe()))),
            },
            other => return Err(self.malformed(offset, format!("numpy.dtype called with {}", other.describe()))),
        };
        let kind = Kind::from_descr(&descr, offset)?;
        self.stack.push(Value::Dtype(Dtype { kind, big_endian: None }));
        Ok(())
    }

    fn build(&mut self, offset: usize) -> Res<()> {
        let [obj, state] = self.pop_n(offset, 2)?.try_into().map_err(|_| self.underflow(offset))?;
        match (obj, state) {
            (Value::Dtype(dtype @ Dtype { big_endian: None, .. }), Value::Tuple(state, _)) => {
                let big_endian = dtype_byte_order(&state).map_err(|reason| self.malformed(offset, reason))?;
                self.stack.push(Value::Dtype(Dtype { big_endian: Some(big_endian), ..dtype }));
                Ok(())
            }
            (Value::Wrapper, Value::Dict(state, _)) => {
                let array = self.read_array(offset, &state)?;
                if self.array.replace(array).is_some() {
                    return Err(JoblibProblem::NotOneArray { found: "more than one array".into() });
                }
                self.stack.push(Value::Array);
                Ok(())
            }
            (obj, state) => Err(JoblibProblem::RefusedCall {
                opcode: "BUILD",
                callable: format!("{} with state {}", obj.describe(), state.describe()),
                offset,
            }),
        }
    }

    /// The wrapper's state, then the padding and the raw array bytes that follow the BUILD.
    fn read_array(&mut self, offset: usize, state: &[(Value, Value)]) -> Res<NpyArray> {
        let WrapperState { shape, fortran, kind, big_endian, aligned } =
            wrapper_state(state).map_err(|reason| self.malformed(offset, reason))?;
        if aligned {
            let padding = self.take(1, "the padding-length byte before the array data")?[0];
            self.take(padding as usize, "the padding before the array data")?;
        }
        let count = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let Some(n_bytes) = count.and_then(|c| c.checked_mul(kind.itemsize())) else {
            return Err(
                self.malformed(offset, format!("shape {shape:?} of {} needs more than 2^64 bytes", kind.name()))
            );
        };
        let what = format!("the array data ({} x {:?})", kind.name(), shape);
        let available = (self.data.len() - self.pos) as u64;
        if n_bytes > available {
            return Err(JoblibProblem::Truncated { offset: self.pos, what, needed: n_bytes, available });
        }
        let bytes = self.take(n_bytes as usize, &what)?;
        let data = match kind {
            Kind::F32 => NpyData::F32(decode(bytes, big_endian, f32::from_le_bytes, f32::from_be_bytes)),
            Kind::F64 => NpyData::F64(decode(bytes, big_endian, f64::from_le_bytes, f64::from_be_bytes)),
        };
        let data = if fortran { data.fortran_to_c(&shape) } else { data };
        Ok(NpyArray { shape, data })
    }

    // ---- errors

    fn truncated(&self, offset: usize, what: &str, needed: u64) -> JoblibProblem {
        let available = (self.data.len() - offset.min(self.data.len())) as u64;
        JoblibProblem::Truncated { offset, what: what.to_string(), needed, available }
    }

    fn malformed(&self, offset: usize, reason: String) -> JoblibProblem {
        JoblibProblem::Malformed { offset, reason }
    }

    fn underflow(&self, offset: usize) -> JoblibProblem {
        let op = self.data.get(offset).copied().unwrap_or(0);
        self.malformed(offset, format!("{} with too few items on the stack", opcode_name(op)))
    }
}
