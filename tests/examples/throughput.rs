//! A first produce/consume throughput measurement with rdkafka against a running broker, beside
//! the raw sequential write speed of the disk the broker writes to, measured in the same run.
//! (`fjord bench` will replace this with a full harness.)
//!
//! ```sh
//! cargo build --release -p fjord && target/release/fjord broker --data-dir /tmp/fjord-bench &
//! cargo run --release -p fjord-tests --example throughput -- 127.0.0.1:9092 /tmp/fjord-bench 200000 1024
//! ```

use std::io::Write;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let bootstrap = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:9092".into());
    let data_dir = args.get(2).cloned().unwrap_or_else(|| "./fjord-data".into());
    let count: usize = args.get(3).map_or(Ok(200_000), |s| s.parse())?;
    let size: usize = args.get(4).map_or(Ok(1024), |s| s.parse())?;
    let mb = (count * size) as f64 / 1e6;
    let payload = vec![b'x'; size];

    // Baseline: the same bytes written sequentially to the broker's disk, buffered, one fsync.
    let path = std::path::Path::new(&data_dir).join("baseline.tmp");
    let started = Instant::now();
    {
        let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        for _ in 0..count {
            file.write_all(&payload)?;
        }
        file.into_inner()?.sync_all()?;
    }
    let disk = mb / started.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    println!("baseline: buffered write + fsync of {mb:.0} MB to {data_dir}: {disk:.0} MB/s");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &bootstrap).create()?;
    for acks in ["1", "all"] {
        let topic = format!("throughput-acks-{acks}-{}", std::process::id());
        rt.block_on(admin.create_topics(&[NewTopic::new(&topic, 6, TopicReplication::Fixed(1))], &AdminOptions::new()))?;
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", acks)
            .set("linger.ms", "5")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .create()?;
        let started = Instant::now();
        for i in 0..count {
            let key = (i % 1024).to_string();
            let mut record = BaseRecord::to(&topic).key(&key).payload(&payload);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        record = r;
                        producer.poll(Duration::from_millis(1));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(300))?;
        let produce = mb / started.elapsed().as_secs_f64();
        println!("produce acks={acks}: {count} x {size} B in {:.2} s = {produce:.0} MB/s = {:.2} x baseline", started.elapsed().as_secs_f64(), produce / disk);

        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("throughput-{}", std::process::id()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("fetch.max.bytes", "52428800")
            .set("max.partition.fetch.bytes", "10485760")
            .create()?;
        consumer.subscribe(&[&topic])?;
        let started = Instant::now();
        let mut got = 0;
        while got < count && started.elapsed() < Duration::from_secs(300) {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                m?;
                got += 1;
            }
        }
        let consume = mb / started.elapsed().as_secs_f64();
        println!("consume: {got} records in {:.2} s = {consume:.0} MB/s", started.elapsed().as_secs_f64());
    }
    Ok(())
}
