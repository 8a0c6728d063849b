//! GloVe (being written).
pub struct Glove;
pub struct GloveParams;
