//! Deep-learning models (`dl_model` handles): a graph plus HALCON's model parameters, and
//! `apply_dl_model`.
//!
//! The state is immutable and shared: `set_dl_model_param` replaces it, so inference that is
//! running keeps the state it started with and is never blocked by a parameter change.
//! Execution plans are cached per input shape and thread count; on a plugin device,
//! compiled models are cached per input shape (see [`crate::plugin::compiled`]), in the
//! model's precision (float32, or the precision of a converted model, see [`convert`]).

pub mod convert;
pub mod file;
pub mod geometry;
pub mod import;
pub mod model_type;
pub mod params;
pub mod results;
pub mod samples;

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use dlopt_graph::{Graph, GraphError, Tensor};
use dlopt_runtime::{BuildOptions, Plan};

use crate::device::{Backend, Device, native_device};
use crate::dict::{Dict, DictKey, DictValue};
use crate::error::{
    H_ERR_CNN_INFERENCE_FAILED, H_ERR_DL_CLASS_IDS_INVALID, H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED,
    H_ERR_DL_NO_INFERENCE_INPUTS, HalconError, Result,
};
use crate::handle::{HandleKind, HandleObject, HandleRef};
use crate::plugin::compiled::{CompileSpec, CompiledCache, CompiledModel};

use convert::Conversion;

use geometry::ImageGeometry;
use model_type::ModelType;
use params::alphabet::Alphabet;
use params::type_params::TypeParams;
use results::{BatchOutputs, make_results, select_keys};
use samples::{SampleImage, batch_tensor, sample_image};

/// Everything `get_dl_model_param` reports and `apply_dl_model` uses.
#[derive(Clone)]
pub struct ModelState {
    /// The graph (after dlopt's optimization passes).
    pub graph: Arc<Graph>,
    /// `'type'`.
    pub model_type: ModelType,
    /// `'batch_size'`.
    pub batch_size: usize,
    /// `'batch_size_multiplier'` (training only; kept for HALCON compatibility).
    pub batch_size_multiplier: usize,
    /// The image input, if the graph's first input is NCHW.
    pub geometry: Option<ImageGeometry>,
    /// `'image_range_min'`, `'image_range_max'`.
    pub image_range: (f64, f64),
    /// `'class_names'` (empty: the ids as text).
    pub class_names: Vec<String>,
    /// `'class_ids'` (empty: 0, 1, ...).
    pub class_ids: Vec<i64>,
    /// `'meta_data'`.
    pub meta_data: Vec<(DictKey, DictValue)>,
    /// `'device'`.
    pub device: Arc<Device>,
    /// The OCR alphabet (`'alphabet'`, `'alphabet_internal'`, `'alphabet_mapping'`).
    pub alphabet: Alphabet,
    /// Parameters of specific types.
    pub type_params: TypeParams,
    /// `'precision'`: `'float32'`, or the precision a conversion gave the model.
    pub precision: &'static str,
    /// The conversion by `optimize_dl_model_for_inference` (`None`: not converted). A
    /// converted model is frozen (see [`params::converted`]) and runs only on devices of
    /// the AI² interface that converted it.
    pub conversion: Option<Arc<Conversion>>,
    /// `'optimize_for_inference'`.
    pub optimize_for_inference: bool,
}

impl ModelState {
    /// The state of a freshly imported graph: type `'generic'`, batch size 1, geometry from
    /// the first input, meta data from the graph's metadata, an OCR alphabet from a
    /// `character` metadata entry, the native device.
    pub fn new(graph: Graph) -> Result<ModelState> {
        let geometry = ImageGeometry::of_graph(&graph);
        let meta_data = graph
            .metadata
            .iter()
            .map(|(key, value)| {
                Ok((
                    DictKey::String(key.as_str().into()),
                    DictValue::Tuple(crate::tuple::Tuple::from_strings([value])?),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let alphabet = graph
            .metadata
            .iter()
            .find(|(key, _)| key == "character")
            .map(|(_, text)| Alphabet::from_character_list(text))
            .unwrap_or_default();
        let device = native_device()?.clone();
        Ok(ModelState {
            graph: Arc::new(graph),
            model_type: ModelType::Generic,
            batch_size: 1,
            batch_size_multiplier: 1,
            geometry,
            image_range: (-1.0, 1.0),
            class_names: Vec::new(),
            class_ids: Vec::new(),
            meta_data,
            device,
            alphabet,
            type_params: TypeParams::default(),
            precision: "float32",
            conversion: None,
            optimize_for_inference: false,
        })
    }

    /// `'precision_is_converted'`: whether `optimize_dl_model_for_inference` made the model.
    pub fn is_converted(&self) -> bool {
        self.conversion.is_some()
    }

    /// How a plugin device compiles this model: float32 without options, or as converted.
    pub fn compile_spec(&self) -> CompileSpec<'_> {
        match &self.conversion {
            Some(conversion) => conversion.compile_spec(),
            None => CompileSpec::PLAIN,
        }
    }

    /// The input shape of one batch when the model fixes it (batch, channels, height,
    /// width all known), e.g. to compile before the first sample arrives.
    pub fn fixed_input_shape(&self) -> Option<Vec<usize>> {
        match &self.geometry {
            Some(geometry) => Some(vec![
                geometry.fixed_batch.unwrap_or(self.batch_size),
                geometry.channels.size()?,
                geometry.height.size()?,
                geometry.width.size()?,
            ]),
            None => {
                let input = self.graph.value(*self.graph.inputs.first()?);
                input.shape.as_deref().and_then(dlopt_graph::shape::fixed_shape)
            }
        }
    }

    /// The graph's output names, in order.
    pub fn output_names(&self) -> Vec<String> {
        self.graph.outputs.iter().map(|&id| self.graph.value(id).name.clone()).collect()
    }

    /// Class ids and names for a network with `classes` outputs: as set, or 0, 1, ... and
    /// the ids as text.
    pub fn class_ids_and_names(&self, classes: usize) -> Result<(Vec<i64>, Vec<String>)> {
        let ids = if self.class_ids.is_empty() {
            (0..classes as i64).collect()
        } else {
            self.class_ids.clone()
        };
        if ids.len() < classes {
            return Err(HalconError::new(
                H_ERR_DL_CLASS_IDS_INVALID,
                format!(
                    "the model outputs {classes} classes but 'class_ids' has {} entries",
                    ids.len()
                ),
            ));
        }
        let names = if self.class_names.len() >= classes {
            self.class_names.clone()
        } else {
            ids.iter().map(|id| id.to_string()).collect()
        };
        Ok((ids, names))
    }
}

/// One cached plan and what it was built for.
struct CachedPlan {
    /// The graph's identity (its `Arc` address).
    graph: usize,
    shape: Vec<usize>,
    threads: usize,
    plan: Arc<Plan>,
}

/// Cached plans, most recently used last; a few are kept.
#[derive(Default)]
struct PlanCache {
    entries: Mutex<Vec<CachedPlan>>,
}

const CACHED_PLANS: usize = 8;

/// The object behind a `dl_model` handle.
pub struct DlModel {
    state: RwLock<Arc<ModelState>>,
    plans: PlanCache,
    compiled: CompiledCache,
}

impl HandleObject for DlModel {
    const KIND: HandleKind = HandleKind::DlModel;
}

/// Maps graph and runtime errors to HALCON's inference error (7741) with their message.
pub fn inference_error(error: GraphError) -> HalconError {
    HalconError::new(H_ERR_CNN_INFERENCE_FAILED, error.message)
}

impl DlModel {
    /// A model with `state`.
    pub fn new(state: ModelState) -> DlModel {
        DlModel {
            state: RwLock::new(Arc::new(state)),
            plans: PlanCache::default(),
            compiled: CompiledCache::default(),
        }
    }

    /// The current state (a snapshot).
    pub fn state(&self) -> Arc<ModelState> {
        self.state.read().clone()
    }

    /// Changes the state: `change` edits a copy, which replaces the state if it succeeds.
    pub fn update(&self, change: impl FnOnce(&mut ModelState) -> Result<()>) -> Result<()> {
        let mut guard = self.state.write();
        let mut next = (**guard).clone();
        change(&mut next)?;
        *guard = Arc::new(next);
        Ok(())
    }

    fn plan_for(&self, state: &ModelState, shape: &[usize], threads: usize) -> Result<Arc<Plan>> {
        let graph_id = Arc::as_ptr(&state.graph) as usize;
        let mut entries = self.plans.entries.lock();
        if let Some(at) = entries
            .iter()
            .position(|e| e.graph == graph_id && e.shape == shape && e.threads == threads)
        {
            let entry = entries.remove(at);
            let plan = entry.plan.clone();
            entries.push(entry);
            return Ok(plan);
        }
        drop(entries);
        let options = BuildOptions { threads, ..BuildOptions::default() };
        let plan = Arc::new(
            Plan::build(&state.graph, &[shape.to_vec()], &options).map_err(inference_error)?,
        );
        let mut entries = self.plans.entries.lock();
        if entries.len() >= CACHED_PLANS {
            entries.remove(0);
        }
        entries.push(CachedPlan {
            graph: graph_id,
            shape: shape.to_vec(),
            threads,
            plan: plan.clone(),
        });
        Ok(plan)
    }

    /// Runs the network on one input tensor on the model's device: the native runtime, or
    /// the plugin device's compiled model for this input shape (compiled on first use in
    /// the model's precision). A converted model on the native device is 7917.
    pub fn run_tensor(&self, state: &ModelState, input: Tensor) -> Result<Vec<Tensor>> {
        let native = match &state.device.backend {
            Backend::Native(native) => native,
            Backend::Plugin(_) => {
                return self.compiled_for(state, input.shape())?.execute(&[input]);
            }
        };
        if let Some(conversion) = &state.conversion {
            return Err(not_on_native(conversion));
        }
        let threads = native.threads();
        let plan = self.plan_for(state, input.shape(), threads)?;
        native.run(|| plan.run(&[input])).map_err(inference_error)
    }

    /// The compiled model for `shape` on the state's plugin device: cached, or compiled now
    /// in the state's precision. Errors: 4320 if the device is not a plugin device.
    pub fn compiled_for(&self, state: &ModelState, shape: &[usize]) -> Result<Arc<CompiledModel>> {
        let Backend::Plugin(device) = &state.device.backend else {
            return Err(HalconError::new(
                crate::error::H_ERR_HAI2_ERROR,
                "the model's device is the native runtime, which compiles nothing",
            ));
        };
        self.compiled.get_or_compile(
            &state.graph,
            state.device.id,
            device,
            shape,
            state.compile_spec(),
        )
    }

    /// The models compiled for the state's graph and device, with their input shapes
    /// (least recently used first).
    pub fn compiled_models_of(&self, state: &ModelState) -> Vec<(Vec<usize>, Arc<CompiledModel>)> {
        self.compiled.compiled_for(&state.graph, state.device.id)
    }

    /// Adds a compiled model (e.g. one loaded from a file) for the state's graph and device.
    pub fn add_compiled(&self, state: &ModelState, shape: &[usize], compiled: CompiledModel) {
        self.compiled.insert(&state.graph, state.device.id, shape, Arc::new(compiled));
    }

    /// The number of compiled models cached for plugin devices (for tests and summaries).
    pub fn compiled_models(&self) -> usize {
        self.compiled.len()
    }

    /// Destroys the compiled models of devices the model no longer uses (after `'device'`
    /// or `'runtime'` changed), once no inference uses them.
    pub fn release_other_devices(&self) {
        let device = self.state().device.id;
        self.compiled.keep_only_device(device);
    }

    /// `apply_dl_model`: one result dict per sample, in order.
    pub fn apply(&self, samples: &[HandleRef], requested: &[&str]) -> Result<Vec<Dict>> {
        let state = self.state();
        let keys = select_keys(&state, requested)?;
        let images = checked_images(&state, samples, "DLSampleBatch")?;
        let output_names = state.output_names();
        let mut results = Vec::with_capacity(images.len());
        for (chunk_index, group) in images.chunks(state.batch_size).enumerate() {
            let (input, batch) = batch_input(&state, group, chunk_index)?;
            let outputs = self.run_tensor(&state, input)?;
            let batch_outputs = BatchOutputs {
                tensors: &outputs,
                names: &output_names,
                samples: group.len(),
                batch,
            };
            results.extend(make_results(&state, &batch_outputs, &keys)?);
        }
        Ok(results)
    }
}

/// The error of running a converted model on the native runtime (7917).
fn not_on_native(conversion: &Conversion) -> HalconError {
    HalconError::new(
        H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED,
        format!(
            "the model was converted to '{}' by AI² interface '{}' and runs only on its devices; the native runtime cannot run it (set 'device' to a device of '{}')",
            conversion.precision, conversion.interface, conversion.interface
        ),
    )
}

/// The checked images of `samples` (a tuple of sample dicts passed as parameter `what`).
/// Errors: the model takes no images (7794); the errors of [`sample_image`].
pub fn checked_images(
    state: &ModelState,
    samples: &[HandleRef],
    what: &str,
) -> Result<Vec<SampleImage>> {
    let geometry = state.geometry.as_ref().ok_or_else(|| {
        HalconError::new(
            H_ERR_DL_NO_INFERENCE_INPUTS,
            "the model's first input is not an image tensor [N, C, H, W], so samples cannot feed it",
        )
    })?;
    samples
        .iter()
        .enumerate()
        .map(|(index, sample)| sample_image(what, index, sample, geometry))
        .collect()
}

/// The input tensor of chunk `chunk_index` (at most `'batch_size'` images) and its batch
/// size: the graph's fixed batch (the rest zero padding) or the chunk's length.
pub fn batch_input(
    state: &ModelState,
    group: &[SampleImage],
    chunk_index: usize,
) -> Result<(Tensor, usize)> {
    let fixed = state.geometry.as_ref().and_then(|geometry| geometry.fixed_batch);
    let batch = fixed.unwrap_or(group.len()).max(group.len());
    let refs: Vec<&SampleImage> = group.iter().collect();
    Ok((batch_tensor(&refs, batch, chunk_index * state.batch_size)?, batch))
}
