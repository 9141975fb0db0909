//! A GGUF chat model run in-process on the CPU with candle: checked loading (header, size,
//! sha256), weights whose quantized matmul has no SIMD kernel dequantized at load, the tokenizer
//! built from the GGUF (with SmolLM2's pre-tokenizer), the ChatML template, next-token
//! log-probabilities and greedy generation.

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// Why a model could not be loaded or run; every message says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: model file not found. Install it with `{install}`")]
    Missing { path: PathBuf, install: String },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{path}: sha256 is {actual}, expected {expected}: the file is damaged or another model. \
         Delete it and run `{install}`"
    )]
    Checksum {
        path: PathBuf,
        actual: String,
        expected: String,
        install: String,
    },
    #[error("{path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("model run failed: {0}")]
    Run(String),
}

/// When quantized weights are turned into f32 at load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dequantize {
    /// Only types whose candle matmul is scalar (Q4_1, Q5_0, Q5_1): ~18x faster prompts for them.
    Auto,
    /// Every quantized weight (more memory, f32 gemm everywhere).
    All,
    /// Keep every weight as stored.
    None,
}

impl Dequantize {
    fn wants(self, dtype: GgmlDType) -> bool {
        let quantized = !matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
        match self {
            Dequantize::All => quantized,
            Dequantize::None => false,
            Dequantize::Auto => {
                matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
            }
        }
    }
}

/// What a loaded model is and what loading it cost.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub name: String,
    pub architecture: String,
    pub file_bytes: u64,
    pub load_seconds: f64,
    pub dequantized_tensors: usize,
    /// The low-rank adapter added to the weights, if any.
    pub adapter: Option<PathBuf>,
}

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
}

impl Weights {
    /// A copy that shares the weights and holds its own attention cache (llama models only:
    /// candle's qwen2 model cannot be copied).
    fn snapshot(&self) -> Option<Weights> {
        match self {
            Weights::Llama(m) => Some(Weights::Llama(m.clone())),
            Weights::Qwen2(_) => None,
        }
    }

    /// The next token's logits after `ids`, which start at `position` (the attention cache
    /// holds the tokens before it).
    fn logits(
        &mut self,
        ids: &[u32],
        position: usize,
        device: &Device,
    ) -> Result<Vec<f32>, ModelError> {
        let run = |e: candle_core::Error| ModelError::Run(e.to_string());
        let input = Tensor::new(ids, device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(run)?;
        let logits = match self {
            Weights::Llama(m) => m.forward(&input, position),
            Weights::Qwen2(m) => m.forward(&input, position),
        }
        .map_err(run)?;
        logits
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(run)
    }

    fn clear(&mut self) {
        match self {
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Qwen2(m) => m.clear_kv_cache(),
        }
    }
}

/// A model's state after the first tokens of a prompt, kept while the next prompts begin with
/// them: the questions about one episode share the episode's text and differ in their last
/// sentence, so from the third question on each runs only its own tokens.
struct SharedPrefix {
    ids: Vec<u32>,
    state: Weights,
}

/// Prompts that share fewer tokens than this run whole (a copy of the state is not worth it).
const MIN_SHARED_TOKENS: usize = 32;

/// A loaded chat model.
pub struct ChatModel {
    weights: Weights,
    tokenizer: Tokenizer,
    end_of_turn: u32,
    device: Device,
    pub info: ModelInfo,
    /// The last prompt's tokens, to find what the next one shares with it.
    last_prompt: Vec<u32>,
    shared: Option<SharedPrefix>,
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, std::io::Error> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Reads and checks a GGUF header: magic, metadata, and that the file holds every tensor's bytes.
pub fn read_header(path: &Path, install: &str) -> Result<Content, ModelError> {
    let corrupt = |reason: String| ModelError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::Missing {
            path: path.to_path_buf(),
            install: install.to_string(),
        },
        _ => corrupt(format!("cannot open: {e}")),
    })?;
    let file_bytes = file
        .seek(std::io::SeekFrom::End(0))
        .map_err(|e| corrupt(e.to_string()))?;
    file.rewind().map_err(|e| corrupt(e.to_string()))?;
    let content = Content::read(&mut file).map_err(|e| {
        corrupt(format!(
            "not a readable GGUF model ({e}); the file is damaged or not a GGUF. Reinstall it \
             with `{install}`"
        ))
    })?;
    let needed = content
        .tensor_infos
        .values()
        .map(|t| {
            let elements = t.shape.elem_count();
            let bytes = elements / t.ggml_dtype.block_size() * t.ggml_dtype.type_size();
            content.tensor_data_offset + t.offset + bytes as u64
        })
        .max()
        .unwrap_or(0);
    if needed > file_bytes {
        return Err(corrupt(format!(
            "truncated: the tensors need {needed} bytes but the file has {file_bytes}. \
             Reinstall it with `{install}`"
        )));
    }
    Ok(content)
}

fn metadata_string(content: &Content, key: &str) -> Option<String> {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

impl ChatModel {
    /// Loads a GGUF chat model; `sha256` (when given) is checked first; `install` is the command
    /// named in errors.
    pub fn load(
        path: &Path,
        sha256: Option<&str>,
        dequantize: Dequantize,
        install: &str,
    ) -> Result<Self, ModelError> {
        Self::load_tuned(path, sha256, dequantize, install, None)
    }

    /// [`Self::load`] with a low-rank adapter (`scripts/tune_judge.py`'s safetensors: per tuned
    /// weight `W`, tensors `W.lora_a` (rank x in) and `W.lora_b` (out x rank, scale folded in))
    /// added to the dequantized weights: `W + lora_b lora_a`, kept as f32.
    pub fn load_tuned(
        path: &Path,
        sha256: Option<&str>,
        dequantize: Dequantize,
        install: &str,
        adapter: Option<&Path>,
    ) -> Result<Self, ModelError> {
        let started = std::time::Instant::now();
        let content = read_header(path, install)?;
        let corrupt = |reason: String| ModelError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(expected) = sha256 {
            let actual = sha256_file(path).map_err(|e| corrupt(e.to_string()))?;
            if actual != expected {
                return Err(ModelError::Checksum {
                    path: path.to_path_buf(),
                    actual,
                    expected: expected.to_string(),
                    install: install.to_string(),
                });
            }
        }
        let architecture = metadata_string(&content, "general.architecture").unwrap_or_default();
        let name =
            metadata_string(&content, "general.name").unwrap_or_else(|| path.display().to_string());
        if architecture != "llama" && architecture != "qwen2" {
            return Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                reason: format!(
                    "architecture '{architecture}' is not supported (llama and qwen2 are)"
                ),
            });
        }
        let template = metadata_string(&content, "tokenizer.chat_template").unwrap_or_default();
        if !template.contains("<|im_start|>") {
            return Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                reason: "its chat template is not ChatML (<|im_start|> ... <|im_end|>); only \
                         ChatML models are supported"
                    .into(),
            });
        }
        let tokenizer = build_tokenizer(&content, path)?;
        let end_of_turn = tokenizer
            .token_to_id("<|im_end|>")
            .ok_or_else(|| corrupt("the vocabulary has no <|im_end|> token".into()))?;
        let device = Device::Cpu;
        let mut file = std::fs::File::open(path).map_err(|e| corrupt(e.to_string()))?;
        let file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let deltas = match adapter {
            Some(adapter) => read_adapter(adapter, &content, &device)?,
            None => std::collections::HashMap::new(),
        };
        let slow: Vec<String> = content
            .tensor_infos
            .iter()
            .filter(|(name, t)| dequantize.wants(t.ggml_dtype) || deltas.contains_key(*name))
            .map(|(name, _)| name.clone())
            .collect();
        let run = |e: candle_core::Error| corrupt(format!("cannot read the weights: {e}"));
        let weights = if slow.is_empty() {
            load_weights(&architecture, content, &mut file, &device).map_err(run)?
        } else {
            // Rewrite the model in memory with those tensors as f32, then load that.
            let mut tensors: Vec<(String, QTensor)> = Vec::new();
            let mut names: Vec<&String> = content.tensor_infos.keys().collect();
            names.sort();
            for name in names {
                let tensor = content.tensor(&mut file, name, &device).map_err(run)?;
                let tensor = if slow.contains(name) {
                    let mut weight = tensor.dequantize(&device).map_err(run)?;
                    if let Some(delta) = deltas.get(name) {
                        weight = (weight + delta).map_err(run)?;
                    }
                    QTensor::quantize(&weight, GgmlDType::F32).map_err(run)?
                } else {
                    tensor
                };
                tensors.push((name.clone(), tensor));
            }
            let metadata: Vec<(&str, &Value)> = content
                .metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v))
                .collect();
            let refs: Vec<(&str, &QTensor)> =
                tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
            let mut buffer = std::io::Cursor::new(Vec::new());
            gguf_file::write(&mut buffer, &metadata, &refs).map_err(run)?;
            drop(tensors);
            buffer.rewind().map_err(|e| corrupt(e.to_string()))?;
            let rewritten = Content::read(&mut buffer).map_err(run)?;
            load_weights(&architecture, rewritten, &mut buffer, &device).map_err(run)?
        };
        Ok(Self {
            weights,
            tokenizer,
            end_of_turn,
            device,
            info: ModelInfo {
                path: path.to_path_buf(),
                name,
                architecture,
                file_bytes,
                load_seconds: started.elapsed().as_secs_f64(),
                dequantized_tensors: slow.len(),
                adapter: adapter.map(Path::to_path_buf),
            },
            last_prompt: Vec::new(),
            shared: None,
        })
    }

    /// Token ids of `text` (special tokens such as `<|im_start|>` recognised).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::Run(format!("tokenizer: {e}")))
    }

    /// The text of `ids` (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| ModelError::Run(format!("tokenizer: {e}")))
    }

    /// The single token id of `text`, if it is one token.
    pub fn single_token(&self, text: &str) -> Option<u32> {
        match self.encode(text).ok()?.as_slice() {
            [id] => Some(*id),
            _ => None,
        }
    }

    /// A ChatML conversation up to the assistant's turn, followed by `prefill`.
    pub fn chat_prompt(system: &str, user: &str, prefill: &str) -> String {
        format!(
            "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n\
             <|im_start|>assistant\n{prefill}"
        )
    }

    fn forward(&mut self, ids: &[u32], position: usize) -> Result<Vec<f32>, ModelError> {
        self.weights.logits(ids, position, &self.device)
    }

    fn clear(&mut self) {
        self.weights.clear();
    }

    /// Log-probabilities of the next token after `prompt` (a fresh context each call; the
    /// tokens it shares with the previous prompt run once, on llama models).
    pub fn next_token_logprobs(&mut self, prompt: &str) -> Result<Vec<f32>, ModelError> {
        let ids = self.encode(prompt)?;
        if ids.is_empty() {
            return Err(ModelError::Run("empty prompt".into()));
        }
        let logits = self.logits_sharing_prefix(&ids)?;
        self.last_prompt = ids;
        Ok(log_softmax(&logits))
    }

    /// How many of the last prompt's first tokens ran apart from the rest and are kept for the
    /// prompts that begin with them (0: it ran whole).
    pub fn reused_tokens(&self) -> usize {
        self.shared
            .as_ref()
            .filter(|shared| self.last_prompt.starts_with(&shared.ids))
            .map_or(0, |shared| shared.ids.len())
    }

    /// The logits after `ids`, from the kept state of a prefix they extend, or by keeping the
    /// state of the prefix they share with the previous prompt, or from scratch.
    fn logits_sharing_prefix(&mut self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        if let Some(shared) = &self.shared
            && ids.len() > shared.ids.len()
            && ids.starts_with(&shared.ids)
            && let Some(mut state) = shared.state.snapshot()
        {
            return state.logits(&ids[shared.ids.len()..], shared.ids.len(), &self.device);
        }
        let common = self
            .last_prompt
            .iter()
            .zip(ids)
            .take_while(|(a, b)| a == b)
            .count();
        if common >= MIN_SHARED_TOKENS
            && common < ids.len()
            && let Some(mut state) = self.weights.snapshot()
        {
            state.clear();
            state.logits(&ids[..common], 0, &self.device)?;
            let kept = state.snapshot();
            let logits = state.logits(&ids[common..], common, &self.device)?;
            self.shared = kept.map(|state| SharedPrefix {
                ids: ids[..common].to_vec(),
                state,
            });
            return Ok(logits);
        }
        self.shared = None;
        self.clear();
        self.forward(ids, 0)
    }

    /// Greedy continuation of `prompt`, at most `max_tokens`, stopping at the end of the turn.
    pub fn generate(&mut self, prompt: &str, max_tokens: usize) -> Result<String, ModelError> {
        let ids = self.encode(prompt)?;
        self.clear();
        let mut logits = self.forward(&ids, 0)?;
        let mut out = Vec::new();
        for position in ids.len()..ids.len() + max_tokens {
            let next = argmax(&logits);
            if next == self.end_of_turn {
                break;
            }
            out.push(next);
            logits = self.forward(&[next], position)?;
        }
        self.clear();
        self.decode(&out)
    }
}

/// The weight changes of a low-rank adapter file, `lora_b lora_a` per tuned weight, each checked
/// against the weight's shape in `content`.
fn read_adapter(
    path: &Path,
    content: &Content,
    device: &Device,
) -> Result<std::collections::HashMap<String, Tensor>, ModelError> {
    let corrupt = |reason: String| ModelError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(corrupt(
            "adapter file not found: give the file `scripts/tune-judge.sh` wrote (by default \
             runs/tune-judge/adapter.safetensors)"
                .into(),
        ));
    }
    let tensors = candle_core::safetensors::load(path, device)
        .map_err(|e| corrupt(format!("not a readable safetensors adapter: {e}")))?;
    let mut deltas = std::collections::HashMap::new();
    for (key, a) in &tensors {
        let Some(name) = key.strip_suffix(".lora_a") else {
            continue;
        };
        let b = tensors
            .get(&format!("{name}.lora_b"))
            .ok_or_else(|| corrupt(format!("{name}.lora_a has no {name}.lora_b")))?;
        let info = content.tensor_infos.get(name).ok_or_else(|| {
            corrupt(format!(
                "it tunes {name}, which this model does not have: the adapter belongs to \
                 another model"
            ))
        })?;
        // Adapters may be stored in half precision (`tune_judge.py` writes f16); the change is
        // added to the f32 weights.
        let delta = b
            .to_dtype(candle_core::DType::F32)
            .and_then(|b| b.matmul(&a.to_dtype(candle_core::DType::F32)?))
            .map_err(|e| corrupt(format!("{name}: lora_b x lora_a: {e}")))?;
        if delta.dims() != info.shape.dims() {
            return Err(corrupt(format!(
                "{name}: the adapter's change has shape {:?}, the weight {:?}: the adapter \
                 belongs to another model",
                delta.dims(),
                info.shape.dims()
            )));
        }
        deltas.insert(name.to_string(), delta);
    }
    if deltas.is_empty() {
        return Err(corrupt(
            "the adapter holds no `.lora_a`/`.lora_b` pair".into(),
        ));
    }
    Ok(deltas)
}

fn load_weights<R: Read + Seek>(
    architecture: &str,
    content: Content,
    reader: &mut R,
    device: &Device,
) -> candle_core::Result<Weights> {
    Ok(if architecture == "qwen2" {
        Weights::Qwen2(quantized_qwen2::ModelWeights::from_gguf(
            content, reader, device,
        )?)
    } else {
        Weights::Llama(quantized_llama::ModelWeights::from_gguf(
            content, reader, device,
        )?)
    })
}

/// The GGUF's tokenizer; SmolLM2's `smollm` pre-tokenizer (unknown to candle) is set here:
/// byte-level without a prefix space, digits split one by one.
fn build_tokenizer(content: &Content, path: &Path) -> Result<Tokenizer, ModelError> {
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::pre_tokenizers::digits::Digits;
    use tokenizers::pre_tokenizers::sequence::Sequence;
    let mut tokenizer = Tokenizer::from_gguf(content).map_err(|e| ModelError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot build the tokenizer: {e}"),
    })?;
    if metadata_string(content, "tokenizer.ggml.pre").as_deref() == Some("smollm") {
        let pre = Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ]);
        tokenizer.with_pre_tokenizer(Some(pre));
    }
    Ok(tokenizer)
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    let log_sum = sum.ln() + max;
    logits.iter().map(|l| l - log_sum).collect()
}

fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}
