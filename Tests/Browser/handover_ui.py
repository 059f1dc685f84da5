#!/usr/bin/env python3
"""The chat widget and the agent inbox in a real browser (headless Chromium through Selenium),
two windows over the running platform:

  customer (widget on the gateway's demo page): asks for a refund over the limit (it waits for
  approval), then asks for a person;
  agent (inbox on HILQueue): goes online, claims the conversation, reads the brief, replies;
  the reply appears in the widget; approves the pending refund from the conversation's
  approvals; the widget shows the refund's confirmation; resolves.

Screenshots of both pages go to --out. Exits non-zero (with the reason) on the first failure.
Usage: handover_ui.py --gateway http://127.0.0.1:P --hilqueue http://127.0.0.1:Q --out DIR
"""
import argparse
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import ElementClickInterceptedException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--gateway", required=True)
parser.add_argument("--hilqueue", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--conversation", default="ui-" + str(int(time.time())))
parser.add_argument("--customer-token", required=True, help="customer session for cus_1001")
parser.add_argument("--agent-token", required=True, help="agent_ana's token (hil:agent)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

options = webdriver.ChromeOptions()
for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--disable-gpu"]:
    options.add_argument(flag)
options.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 30, poll_frequency=0.2)


def step(text):
    print("step:", text, flush=True)


def widget_says(role, fragment):
    return wait.until(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, f".sb-msg.{role}") if fragment in e.text), None),
                      message=f"the widget never showed a {role} message with {fragment!r}")


def click(css, message):
    """Clicks the element `css` finds, finding it again if the page re-rendered it meanwhile."""
    def attempt(d):
        try:
            element = d.find_element(By.CSS_SELECTOR, css)
            if not element.is_displayed() or not element.is_enabled():
                return False
            element.click()
            return True
        except (StaleElementReferenceException, NoSuchElementException, ElementClickInterceptedException):
            return False
    wait.until(attempt, message=message)


def send(text):
    box = driver.find_element(By.CSS_SELECTOR, ".sb-chat input[name=text]")
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, ".sb-chat button[type=submit]").click()


try:
    step("customer opens the shop's chat")
    driver.get(f"{args.gateway}/?conversation={args.conversation}#session={args.customer_token}")
    customer = driver.current_window_handle
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".sb-chat input[name=text]")))
    send("Please refund $80 for order DEF456")
    widget_says("assistant", "asked a colleague to approve")
    send("Actually, I want to talk to a human")
    widget_says("assistant", "passing you to a member of our team")

    step("agent opens the inbox, goes online, claims")
    driver.switch_to.new_window("window")
    agent = driver.current_window_handle
    driver.get(f"{args.hilqueue}/inbox#token={args.agent_token}")
    wait.until(EC.text_to_be_present_in_element((By.ID, "who"), "Ana Silva"), message="the inbox did not sign agent_ana in")
    driver.find_element(By.ID, "go-online").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "status-line"), "agent_ana is online"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#queue [data-conversation='{args.conversation}']"), message="the conversation never showed in the queue")
    driver.find_element(By.ID, "claim-next").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "conversation-id"), args.conversation))
    wait.until(EC.text_to_be_present_in_element((By.ID, "summary"), "Customer wants"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#transcript .msg")) >= 4, message="the transcript did not load")

    step("agent replies; the customer sees it")
    driver.find_element(By.ID, "reply-text").send_keys("Hi, this is Ana from the support team. I'm looking at your refund now.")
    driver.find_element(By.ID, "send-reply").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "status-line"), "sent"))
    driver.switch_to.window(customer)
    widget_says("agent", "this is Ana")

    step("agent approves the pending refund; the customer sees the confirmation")
    driver.switch_to.window(agent)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#conversation-approvals .approval .approve")), message="no pending approval in the conversation")
    driver.save_screenshot(os.path.join(args.out, "inbox.png"))
    click("#conversation-approvals .approval .approve", "could not click Approve")
    wait.until(EC.text_to_be_present_in_element((By.ID, "status-line"), "approved"))
    driver.switch_to.window(customer)
    widget_says("assistant", "refunded USD 80.00")
    driver.save_screenshot(os.path.join(args.out, "widget.png"))

    step("agent resolves")
    driver.switch_to.window(agent)
    driver.find_element(By.ID, "handback-note").send_keys("Refund approved and confirmed to the customer.")
    driver.find_element(By.ID, "resolve").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "conversation-phase"), "resolved"))
    driver.save_screenshot(os.path.join(args.out, "inbox-resolved.png"))
    print("ok", flush=True)
except Exception as error:  # noqa: BLE001 - the reason goes to the test's output
    try:
        driver.save_screenshot(os.path.join(args.out, "failure.png"))
    except Exception:  # noqa: BLE001
        pass
    print("FAILED:", type(error).__name__, str(error).splitlines()[0] if str(error) else "", file=sys.stderr, flush=True)
    for handle in driver.window_handles:
        driver.switch_to.window(handle)
        print("page", driver.current_url, file=sys.stderr)
        print(driver.find_element(By.TAG_NAME, "body").text[:2000], file=sys.stderr)
    sys.exit(1)
finally:
    driver.quit()
