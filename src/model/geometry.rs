//! The image input of a model: which graph input takes the images, and its width, height
//! and channel count — fixed by the graph, or dynamic and chosen by the user.

use dlopt_graph::{Dim, Graph};

use crate::error::{
    H_ERR_DL_ANOMALY_MODEL_RESIZE, H_ERR_DL_MODEL_UNSUPPORTED_GENVALUE, HalconError, Result,
};

/// One dimension of the image input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageDim {
    /// Fixed by the graph.
    Fixed(usize),
    /// Dynamic in the graph; `Some` once the user chose a size, `None`: taken from the
    /// samples (all samples of a batch must agree).
    Dynamic(Option<usize>),
}

impl ImageDim {
    fn from_dim(dim: Option<&Dim>) -> ImageDim {
        match dim.and_then(Dim::fixed) {
            Some(size) => ImageDim::Fixed(size),
            None => ImageDim::Dynamic(None),
        }
    }

    /// The size, if fixed or chosen.
    pub fn size(self) -> Option<usize> {
        match self {
            ImageDim::Fixed(size) | ImageDim::Dynamic(Some(size)) => Some(size),
            ImageDim::Dynamic(None) => None,
        }
    }

    /// The value `get_dl_model_param` reports: the size, or -1 while dynamic and unset.
    pub fn reported(self) -> i64 {
        self.size().map_or(-1, |size| size as i64)
    }

    /// Sets the size: allowed for a dynamic dimension (-1 makes it dynamic again: the
    /// samples decide), refused (7884) for a fixed one unless unchanged.
    pub fn set(&mut self, name: &str, value: i64) -> Result<()> {
        if value == -1 {
            if let ImageDim::Dynamic(chosen) = self {
                *chosen = None;
                return Ok(());
            }
        }
        if !(1..=1 << 20).contains(&value) {
            return Err(HalconError::new(
                H_ERR_DL_MODEL_UNSUPPORTED_GENVALUE,
                format!("GenParamValue: '{name}' must be 1 to {}, got {value}", 1 << 20),
            ));
        }
        match self {
            ImageDim::Fixed(size) if *size as i64 == value => Ok(()),
            ImageDim::Fixed(size) => Err(HalconError::new(
                H_ERR_DL_ANOMALY_MODEL_RESIZE,
                format!(
                    "'{name}' is fixed to {size} by the model's graph and cannot become {value}"
                ),
            )),
            ImageDim::Dynamic(chosen) => {
                *chosen = Some(value as usize);
                Ok(())
            }
        }
    }
}

/// The image input of a model (NCHW).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageGeometry {
    /// The batch dimension: fixed size, or `None` if dynamic.
    pub fixed_batch: Option<usize>,
    /// Channels.
    pub channels: ImageDim,
    /// Rows.
    pub height: ImageDim,
    /// Columns.
    pub width: ImageDim,
}

impl ImageGeometry {
    /// The geometry of the graph's first input, if it is a rank-4 (NCHW) tensor.
    pub fn of_graph(graph: &Graph) -> Option<ImageGeometry> {
        let input = graph.value(*graph.inputs.first()?);
        let shape = input.shape.as_ref()?;
        if shape.len() != 4 {
            return None;
        }
        Some(ImageGeometry {
            fixed_batch: shape[0].fixed(),
            channels: ImageDim::from_dim(Some(&shape[1])),
            height: ImageDim::from_dim(Some(&shape[2])),
            width: ImageDim::from_dim(Some(&shape[3])),
        })
    }
}
