//! Local generation with GGUF models. So far: the tokenizer, built from the GGUF metadata so that
//! it matches llama.cpp id for id ([`tokenizer`]).

pub mod tokenizer;
