//! `slipway image build|list`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use slipway_image::{BuildOptions, ImageStore, OdooVersion, Recipe};

use crate::progress::Progress;
use crate::setup;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Build (or find) the runtime image of an Odoo version.
    Build {
        /// 14.0 or 19.0.
        version: String,
        /// Debian mirror to take packages from.
        #[arg(long, env = "SLIPWAY_MIRROR", default_value = slipway_image::DEFAULT_MIRROR)]
        mirror: String,
    },
    /// Show the images that are built.
    List,
}

pub async fn run(command: ImageCommand) -> Result<ExitCode> {
    let layout = setup::layout()?;
    let store = ImageStore::new(&layout.images);
    match command {
        ImageCommand::Build { version, mirror } => {
            let odoo: OdooVersion = version.parse()?;
            let recipe = Recipe::for_version(odoo)?;
            if let Some(image) = store.find(&recipe)? {
                println!(
                    "{} is already built ({})",
                    image.meta.name,
                    image.dir.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let progress = Progress::new();
            let options = BuildOptions { mirror };
            let image = tokio::task::spawn_blocking(move || {
                use slipway_engine::Observer;
                store
                    .ensure(&recipe, &options, &mut |step| {
                        if step.detail.is_empty() {
                            progress.event(slipway_engine::Event::Step(&format!(
                                "[{}/{}] {}",
                                step.step, step.steps, step.title
                            )));
                        } else {
                            progress.event(slipway_engine::Event::OdooLine(&format!(
                                ": {}",
                                step.detail
                            )));
                        }
                    })
                    .inspect(|_| progress.finish())
                    .inspect_err(|_| progress.finish())
            })
            .await
            .expect("image build does not panic")?;
            println!(
                "built {} in {:.0} s: Odoo {} (package {}), Python {}, {:.1} GB",
                image.meta.name,
                image.meta.build_seconds,
                image.meta.odoo,
                image.meta.odoo_package_version,
                image.meta.python_version,
                image.meta.size_bytes as f64 / 1e9
            );
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::List => {
            let images = store.list()?;
            if images.is_empty() {
                println!(
                    "no images in {} (build one with `slipway image build 14.0`)",
                    store.root().display()
                );
            }
            for image in images {
                match image {
                    Ok(image) => println!(
                        "{:<32} Odoo {:<5} package {:<28} Python {:<7} {:>5.1} GB",
                        image.meta.name,
                        image.meta.odoo,
                        image.meta.odoo_package_version,
                        image.meta.python_version,
                        image.meta.size_bytes as f64 / 1e9
                    ),
                    Err(error) => println!("damaged: {error}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
