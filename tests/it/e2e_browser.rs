//! End-to-end (LABCTL_E2E=1) in a real browser: Debian's headless chromium,
//! driven through chromedriver (WebDriver, with fantoccini). A class of two
//! 4-node seats comes up and `labctl serve` runs. Seat 1's page: type
//! `docker node ls` into its terminal and read four Ready nodes off the
//! screen; paste 100,000 characters and count them in the shell; press
//! check and read the lab's verdicts; its terminal is a shell on seat 1's
//! manager, not seat 2's; naming seat 2 in its address changes
//! nothing, and seat 2's labs' page refuses it. A wrong secret's page shows the
//! refusal. The board shows a check made from the command line, without a
//! reload; from it the instructor watches seat 1's terminal in a page of
//! its own, takes it over and types, and the student's page says so.
//! With LABCTL_SCREENSHOTS=DIR, the student's page and the board
//! are saved there as PNG (the README's pictures). Its subnets
//! (10.93.0-1.0/24), ports and name are its own.

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::e2e_serve::{class_config, wait_for_port, Class};
use crate::support::{require_e2e, require_tool};

const CLASS: &str = "labctl-e2e-browser";
const PORT: u16 = 28820;
const DRIVER_PORT: u16 = 29520;

/// The text of the visible terminal's rows.
async fn screen(browser: &Client) -> String {
    let script = "return Array.from(document.querySelectorAll('#screens > div:not([hidden]) .xterm-rows > div')).map(d => d.textContent).join('\\n');";
    browser.execute(script, vec![]).await.unwrap().as_str().unwrap_or_default().to_string()
}

/// Type `line` into the terminal and wait until the screen shows `wanted`.
async fn type_until(browser: &Client, line: &str, wanted: &dyn Fn(&str) -> bool) -> String {
    let input = browser.find(Locator::Css("#screens > div:not([hidden]) .xterm-helper-textarea")).await.unwrap();
    input.send_keys(&format!("{line}\n")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = screen(browser).await;
        if wanted(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The text of `selector` once `wanted` holds for it (or 60 s pass).
async fn text_until(browser: &Client, selector: &str, wanted: &dyn Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = match browser.find(Locator::Css(selector)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if wanted(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn save_screenshot(browser: &Client, name: &str) {
    let Some(dir) = std::env::var_os("LABCTL_SCREENSHOTS") else { return };
    let png = browser.screenshot().await.unwrap();
    std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
}

#[test]
#[ignore = "end-to-end: needs root, Docker, the offline test images, chromium and chromium-driver; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_students_page_and_the_board_in_a_real_browser() {
    require_e2e();
    let Some(driver) = require_tool("chromedriver", "chromium-driver") else { return };
    let mut class = Class::up(&class_config(CLASS, 93, 3, 29190, 2390, PORT));
    class.serve(PORT);
    let (seat1, board) = (class.secret("s01/link"), class.secret("board-link"));
    let port = format!("--port={DRIVER_PORT}");
    class.others.push(duct::cmd(driver, [port.as_str()]).stdout_null().stderr_null().start().unwrap());
    wait_for_port(DRIVER_PORT, "chromedriver");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        let options = json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900", "--lang=ko-KR"] });
        capabilities.insert("goog:chromeOptions".to_string(), options);
        let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{DRIVER_PORT}"))
            .await
            .expect("chromedriver starts chromium");
        let base = format!("http://127.0.0.1:{PORT}");

        // --- A wrong secret: the page says it is refused.
        browser.goto(&format!("{base}/#0123456789abcdef0123456789abcdef")).await.unwrap();
        let refused = text_until(&browser, "#refused", &|text| text.contains("refused")).await;
        assert!(refused.starts_with("refused: this link is not valid"), "{refused}");

        // --- Seat 1's page cannot be turned into seat 2's, nor open seat 2's
        // labs' pages: naming seat 2 changes nothing without the board's
        // secret, and seat 2's page port refuses seat 1's cookie.
        browser.goto(&format!("{base}/?seat=2#{seat1}")).await.unwrap();
        let title = text_until(&browser, "#seat", &|text| text.ends_with("s01")).await;
        assert_eq!(title, format!("{CLASS} s01"), "still seat 1's page");
        let links = text_until(&browser, "#pages", &|text| text.contains("9000")).await;
        assert_eq!(links, "manager:9000", "seat 1's one labs' page");
        let own = browser.find(Locator::Css("#pages a")).await.unwrap().attr("href").await.unwrap();
        assert_eq!(own.as_deref(), Some(format!("http://127.0.0.1:{}/", PORT + 1).as_str()));
        browser.goto(&format!("http://127.0.0.1:{}/", PORT + 2)).await.unwrap();
        let body = text_until(&browser, "body", &|text| !text.is_empty()).await;
        assert!(body.starts_with("refused: open this page from your seat's page"), "seat 2's page port: {body}");
        browser.goto(&format!("http://127.0.0.1:{}/", PORT + 1)).await.unwrap();
        let body = text_until(&browser, "body", &|text| !text.is_empty()).await;
        assert!(!body.starts_with("refused"), "seat 1's own page port takes seat 1's cookie: {body}");

        // --- Seat 1's page: its terminal on its own manager.
        // (A new query, so that the browser loads the page again rather
        // than only moving to another fragment.)
        browser.goto(&format!("{base}/?seat#{seat1}")).await.unwrap();
        let title = text_until(&browser, "#seat", &|text| text.ends_with("s01")).await;
        assert_eq!(title, format!("{CLASS} s01"));
        let text = type_until(&browser, "docker node ls", &|text| text.matches("Ready").count() >= 4).await;
        assert_eq!(text.matches("Ready").count(), 4, "four Ready nodes on screen:\n{text}");
        // Korean pasted into the terminal comes back as pasted (wide characters).
        let paste = "const area = document.querySelector('#screens > div:not([hidden]) .xterm-helper-textarea'); const data = new DataTransfer(); data.setData('text/plain', arguments[0]); area.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));";
        browser.execute(paste, vec![json!("echo 한글 입력 확인")]).await.unwrap();
        let text = type_until(&browser, "", &|text| text.lines().any(|line| line.trim() == "한글 입력 확인")).await;
        assert!(text.lines().any(|line| line.trim() == "한글 입력 확인"), "Korean through the terminal:\n{text}");
        assert!(text.contains("# echo 한글 입력 확인"), "the prompt shows it as typed (a UTF-8 shell):\n{text}");
        // A paste longer than one websocket message (the server ends a
        // terminal sent one over 64 KiB) reaches the shell whole, its
        // characters too: each emoji is two UTF-16 units, and after the odd
        // prefix one of them straddles the 8192nd.
        let long = format!("printf %s '{}{}한글' | wc -m", "😀".repeat(5_000), "x".repeat(94_998));
        browser.execute(paste, vec![json!(long)]).await.unwrap();
        let text = type_until(&browser, "", &|text| text.lines().any(|line| line.trim() == "100000")).await;
        assert!(text.lines().any(|line| line.trim() == "100000"), "a paste of 100,000 characters, whole:\n{text}");
        let text = type_until(&browser, "hostname -i", &|text| text.contains("10.93.")).await;
        assert!(text.contains("10.93.0.10") && !text.contains("10.93.1.10"), "seat 1's manager, not seat 2's:\n{text}");
        // The handout is beside it, its code blocks one click from the terminal.
        let handout = text_until(&browser, "#handout", &|text| !text.is_empty()).await;
        assert!(handout.contains("visualizer"), "{handout}");

        // --- Check: the lab's verdicts on the page.
        browser.find(Locator::Css("#check")).await.unwrap().click().await.unwrap();
        let verdicts = text_until(&browser, "#verdicts", &|text| text.contains("visualizer_app")).await;
        assert!(verdicts.contains("visualizer_app runs 1 replica"), "{verdicts}");
        let status = text_until(&browser, "#status", &|text| text.contains("checks pass")).await;
        assert!(status.contains("of") && status.contains("checks pass"), "{status}");
        save_screenshot(&browser, "student-page.png").await;

        // --- The board: a check from the command line shows up without a reload.
        browser.goto(&format!("{base}/board#{board}")).await.unwrap();
        let rows = text_until(&browser, "#seats tbody", &|text| text.contains("s02")).await;
        assert!(rows.contains("s01") && rows.contains("4/4"), "{rows}");
        let rows = text_until(&browser, "#seats tbody", &|text| !text.contains("manager")).await;
        assert!(!rows.contains("manager"), "the student's page is gone: so is its terminal\n{rows}");
        class.labctl(&["check", "visualizer", "--seat", "2"]);
        let rows = text_until(&browser, "#seats tbody", &|text| {
            text.lines().any(|line| line.starts_with("s02") && line.contains("visualizer"))
        })
        .await;
        assert!(rows.lines().any(|line| line.starts_with("s02") && line.contains("visualizer")), "{rows}");

        // --- The board watches a student's terminal, then takes it over;
        // the student's page says so.
        let board_window = browser.window().await.unwrap();
        let student_window = browser.new_window(true).await.unwrap().handle;
        browser.switch_to_window(student_window.clone()).await.unwrap();
        browser.goto(&format!("{base}/#{seat1}")).await.unwrap();
        let text = type_until(&browser, "echo watched-$((6*7))", &|text| text.contains("watched-42")).await;
        assert!(text.contains("watched-42"), "{text}");
        browser.switch_to_window(board_window.clone()).await.unwrap();
        let rows = text_until(&browser, "#seats tbody", &|text| {
            text.lines().any(|line| line.starts_with("s01") && line.contains("manager"))
        })
        .await;
        assert!(rows.lines().any(|line| line.starts_with("s01") && line.contains("manager")), "{rows}");
        save_screenshot(&browser, "board.png").await;
        browser.find(Locator::Css("#seats tbody a[href^='/watch']")).await.unwrap().click().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut windows = browser.windows().await.unwrap();
        while windows.len() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            windows = browser.windows().await.unwrap();
        }
        let watch_window = windows.into_iter().find(|window| *window != board_window && *window != student_window);
        browser.switch_to_window(watch_window.expect("the watch page opens")).await.unwrap();
        let mut watched = String::new();
        while !watched.contains("watched-42") && Instant::now() < deadline {
            watched = screen(&browser).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(watched.contains("watched-42"), "the watcher sees the student's screen:\n{watched}");
        browser.find(Locator::Css("#take")).await.unwrap().click().await.unwrap();
        let text = type_until(&browser, "echo taken-$((6*7))", &|text| text.contains("taken-42")).await;
        assert!(text.contains("taken-42"), "{text}");
        browser.switch_to_window(student_window).await.unwrap();
        let notice = text_until(&browser, "#notice", &|text| text.contains("typing")).await;
        assert_eq!(notice, "manager: your instructor is typing in this terminal");
        let text = type_until(&browser, "", &|text| text.contains("taken-42")).await;
        assert!(text.contains("taken-42"), "the instructor's keys reached the student's shell:\n{text}");
        browser.close().await.unwrap();
    });
}
