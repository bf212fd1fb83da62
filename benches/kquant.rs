//! The in-place K-quant products (`llm::kquant`) side by side with candle's own quantized product
//! on the same Q4_K / Q6_K matrix, one row (a decode step) and 64 rows (a prompt batch).
//! Run with `cargo bench --bench kquant` (not part of CI; quote the ratios in closing notes).

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use concord::llm::kquant::CompactWeight;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Qwen2.5-1.5B's feed-forward shape (ffn 8960 x d 1536).
const N: usize = 8960;
const K: usize = 1536;

fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + seed) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

fn benches(c: &mut Criterion) {
    let dev = Device::Cpu;
    let w = Tensor::from_vec(values(N * K, 1), (N, K), &dev).expect("matrix");
    for dtype in [GgmlDType::Q4K, GgmlDType::Q6K] {
        let q = QTensor::quantize(&w, dtype).expect("quantize");
        let ours = CompactWeight::from_qtensor(&q)
            .expect("blocks")
            .expect("a K-quant matrix");
        let candle = QMatMul::from_qtensor(q).expect("qmatmul");
        for m in [1usize, 64] {
            let x = values(m * K, 3);
            let xt = Tensor::from_vec(x.clone(), (m, K), &dev).expect("activations");
            let mut group = c.benchmark_group(format!("{dtype:?}/m{m}"));
            group.throughput(Throughput::Elements((m * N * K) as u64));
            group.sample_size(if m == 1 { 100 } else { 10 });
            group.bench_function("in_place", |b| b.iter(|| ours.matmul(&x, m)));
            group.bench_function("candle", |b| {
                b.iter(|| candle.forward(&xt).expect("product"))
            });
            group.finish();
        }
    }
}

criterion_group!(kquant, benches);
criterion_main!(kquant);
