//! Neural-network blocks (written on candle-nn).
