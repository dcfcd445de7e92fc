//! `moodkiosk cameras`: the V4L2 devices of this machine, what they offer, and how to use each
//! in `[source]`, so that the config can be written without v4l2-ctl. Raspberry Pi camera
//! modules appear as raw Bayer nodes (unicam, rp1-cfe) that only libcamera can drive: for those
//! it prints the rpicam-vid recipe.

use std::path::{Path, PathBuf};

use v4l::capability::Flags;
use v4l::framesize::FrameSizeEnum;
use v4l::video::Capture;
use v4l::Device;

/// FourCCs of raw Bayer formats (8, 10, 12, 16 bit, packed or not, PiSP-compressed).
fn is_bayer(fourcc: &[u8; 4]) -> bool {
    const BAYER: &[&[u8; 4]] = &[
        b"BA81", b"GBRG", b"GRBG", b"RGGB", b"BG10", b"GB10", b"BA10", b"RG10", b"BG12", b"GB12",
        b"BA12", b"RG12", b"BG16", b"GB16", b"GR16", b"RG16", b"pBAA", b"pGAA", b"pgAA", b"pRAA",
        b"pBCC", b"pGCC", b"pgCC", b"pRCC", b"PC1B", b"PC1G", b"PC1g", b"PC1R",
    ];
    BAYER.contains(&fourcc)
}

/// Drivers of Raspberry Pi camera receivers (CSI): their nodes give raw sensor data.
const PI_CAMERA_DRIVERS: &[&str] = &["unicam", "rp1-cfe"];

const RPICAM_RECIPE: &str = "source.kind = \"pipe\"\n    source.format = \"mjpeg\"\n    source.command = [\"rpicam-vid\", \"-t\", \"0\", \"-n\", \"--codec\", \"mjpeg\", \"--width\", \"640\", \"--height\", \"480\", \"--framerate\", \"10\", \"-o\", \"-\"]";

/// `/dev/v4l/by-id` names of a device node.
fn stable_names(node: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir("/dev/v4l/by-id") else {
        return Vec::new();
    };
    let target = std::fs::canonicalize(node).unwrap_or_else(|_| node.to_path_buf());
    let mut names: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::canonicalize(p).is_ok_and(|t| t == target))
        .collect();
    names.sort();
    names
}

fn sizes(dev: &Device, fourcc: v4l::FourCC) -> String {
    let Ok(list) = dev.enum_framesizes(fourcc) else {
        return String::new();
    };
    let mut out: Vec<String> = Vec::new();
    for s in list {
        match s.size {
            FrameSizeEnum::Discrete(d) => out.push(format!("{}x{}", d.width, d.height)),
            FrameSizeEnum::Stepwise(s) => out.push(format!(
                "{}x{} to {}x{}",
                s.min_width, s.min_height, s.max_width, s.max_height
            )),
        }
    }
    out.join(" ")
}

/// One device's report.
fn describe(path: &Path) -> String {
    let mut s = format!("{}\n", path.display());
    for n in stable_names(path) {
        s += &format!("  stable name: {}\n", n.display());
    }
    let dev = match Device::with_path(path) {
        Ok(d) => d,
        Err(e) => {
            return s + &format!("  cannot open: {e} (is the service user in the video group?)\n")
        }
    };
    let Ok(caps) = dev.query_caps() else {
        return s + "  cannot query it\n";
    };
    s += &format!(
        "  driver {}, card {:?}, bus {}\n",
        caps.driver, caps.card, caps.bus
    );
    if !caps.capabilities.contains(Flags::VIDEO_CAPTURE) {
        return s + "  not a capture node (metadata, codec or ISP): not a camera for moodkiosk\n";
    }
    let formats = dev.enum_formats().unwrap_or_default();
    let mut usable = false;
    let mut bayer = !formats.is_empty();
    for f in &formats {
        let code = f.fourcc.repr;
        let name = String::from_utf8_lossy(&code).into_owned();
        bayer &= is_bayer(&code);
        let ours = matches!(&code, b"MJPG" | b"YUYV" | b"GREY" | b"YU12");
        usable |= ours;
        s += &format!(
            "  {name} ({}){}: {}\n",
            f.description,
            if ours { ", usable" } else { "" },
            sizes(&dev, f.fourcc)
        );
    }
    if bayer || PI_CAMERA_DRIVERS.contains(&caps.driver.as_str()) {
        s += &format!("  raw sensor data (a Raspberry Pi camera module): libcamera drives it; use\n    {RPICAM_RECIPE}\n");
    } else if usable {
        s += &format!(
            "  use: source.kind = \"v4l2\", source.device = {:?}\n",
            stable_names(path)
                .first()
                .map_or(path.to_path_buf(), |p| p.clone())
        );
    } else {
        s += "  offers no format moodkiosk reads (MJPG, YUYV, GREY, YU12); a pipe through ffmpeg or GStreamer can convert\n";
    }
    s
}

/// Print every V4L2 device (or say plainly that there is none).
pub fn run() {
    let mut nodes: Vec<PathBuf> = v4l::context::enum_devices()
        .iter()
        .map(|n| n.path().to_path_buf())
        .collect();
    nodes.sort();
    if nodes.is_empty() {
        println!(
            "no V4L2 cameras found (no /dev/video* devices).\n\
             - A USB webcam: plug it in and run this again.\n\
             - A Raspberry Pi camera module: check `rpicam-hello --list-cameras`, then use\n    {RPICAM_RECIPE}\n\
             - An IP camera: source.kind = \"pipe\" with ffmpeg (see config/moodkiosk.toml)."
        );
        return;
    }
    for n in nodes {
        print!("{}", describe(&n));
    }
}
