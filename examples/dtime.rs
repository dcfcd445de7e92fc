use std::time::Instant;
use tract_onnx::prelude::*;
use moodkiosk::face::*;
fn main() {
    let g = image::open("assets/astronaut.png").unwrap().to_luma8();
    let small = image::imageops::resize(&g, 384, 384, image::imageops::FilterType::Triangle);
    let mut f = image::GrayImage::from_pixel(640, 480, image::Luma([110]));
    image::imageops::overlay(&mut f, &small, 128, 48);
    let mut d = BlazeFaceDetector::new(40, 0.0).unwrap();
    for _ in 0..5 { d.detect(&f).unwrap(); }
    let t = Instant::now();
    for _ in 0..30 { d.detect(&f).unwrap(); }
    println!("blaze {:?} {:?}", t.elapsed()/30, d.detect(&f).unwrap());
    let (plan, input) = d.plan_and_input(&f).unwrap();
    let t = Instant::now();
    for _ in 0..30 { d.plan_and_input(&f).unwrap(); }
    println!("prepare {:?}", t.elapsed()/30);
    let t = Instant::now();
    for _ in 0..30 { plan.run(tvec!(input.clone().into())).unwrap(); }
    println!("run {:?}", t.elapsed()/30);
}
