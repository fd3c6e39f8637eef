"""Whole responses written by hand (not composed from templates), in the styles of several
chat models, each with its question, ground truth, human label and class. Part of the answer corpus."""

from __future__ import annotations

HANDWRITTEN = [
    dict(id="hw-gpt-coins", cls="prose_conclusion", label="correct",
         q="A jar holds only nickels and dimes, 30 coins worth $2.10 in total. How many dimes are in the jar?",
         gold="12",
         response="""### Step 1: Set up variables
Let $n$ be the number of nickels and $d$ the number of dimes. We know:
- $n + d = 30$
- $5n + 10d = 210$ (working in cents)

### Step 2: Solve the system
From the first equation, $n = 30 - d$. Substituting into the second:
$$5(30 - d) + 10d = 210 \\implies 150 + 5d = 210 \\implies 5d = 60.$$

### Step 3: Interpret
So $d = 12$, and then $n = 18$. Checking: $18 \\times 5 + 12 \\times 10 = 90 + 120 = 210$ cents. ✓

Therefore, the jar contains **12 dimes**."""),
    dict(id="hw-gpt-coins-both", cls="several_candidates", label="correct",
         q="A jar holds only nickels and dimes, 30 coins worth $2.10 in total. How many dimes are in the jar?",
         gold="12",
         response="""Let $n$ be the nickels and $d$ the dimes, so $n + d = 30$ and $5n + 10d = 210$.

Substituting $n = 30 - d$ gives $150 + 5d = 210$, so $d = 12$ and $n = 18$.

So the jar has 18 nickels and 12 dimes."""),
    dict(id="hw-claude-triangle", cls="restated_question", label="correct",
         q="The sides of a triangle are 7, 24 and 25. What is the radius of its inscribed circle?",
         gold="3",
         response="""First I notice that $7^2 + 24^2 = 49 + 576 = 625 = 25^2$, so this is a right triangle with legs 7 and 24.

For any triangle the inradius is $r = \\frac{A}{s}$, where $A$ is the area and $s$ the semi-perimeter. Here the area is $\\frac{1}{2} \\cdot 7 \\cdot 24 = 84$ and the semi-perimeter is $\\frac{7 + 24 + 25}{2} = 28$.

Dividing, $r = \\frac{84}{28} = 3$. As a cross-check, for a right triangle $r = \\frac{a + b - c}{2} = \\frac{7 + 24 - 25}{2} = 3$, which agrees.

So the circle inscribed in the 7-24-25 triangle has radius 3."""),
    dict(id="hw-claude-triangle-cut", cls="truncated", label="incorrect",
         q="The sides of a triangle are 7, 24 and 25. What is the radius of its inscribed circle?",
         gold="3",
         response="""First I notice that $7^2 + 24^2 = 625 = 25^2$, so this is a right triangle with legs 7 and 24.

For any triangle the inradius is $r = \\frac{A}{s}$. The area is $\\frac{1}{2} \\cdot 7 \\cdot 24 = 84$ and the semi-perimeter is 28, so the radius is $r = \\frac{84}{"""),
    dict(id="hw-deepseek-wait", cls="self_correction", label="correct",
         q="How many positive integers less than 1000 are divisible by 7 but not by 11?",
         gold="130",
         response="""Okay, so I need to count multiples of 7 below 1000, then remove those that are also multiples of 11.

Multiples of 7 less than 1000: the largest is 994 = 7 × 142, so there are 142 of them.

Multiples of both 7 and 11 are multiples of 77. The largest below 1000 is 77 × 12 = 924, so there are 12... wait, 77 × 13 = 1001, which is over 1000, so yes, 12.

So the count is 142 − 12 = 130. Hmm, wait. Let me double-check 142: 7 × 142 = 994, and 7 × 143 = 1001 > 999. So 142 is right. And 77 × 12 = 924 < 1000, 77 × 13 = 1001. So 13 multiples of 77 if we count... no, 12.

Hold on, I should recount the multiples of 7: is 0 included? No, positive integers only. Hmm, but I think I mis-subtracted earlier; 142 − 12 is 130, and I should also exclude 7 × 11 × ... no, that's already covered.

Actually let me recount multiples of 77: 77, 154, 231, 308, 385, 462, 539, 616, 693, 770, 847, 924, that's 12. And multiples of 7 below 1000 number 142... but 142 − 12 = 130, not 129. Let me recount the multiples of 7: ⌊999/7⌋ = 142 (since 7 × 142 = 994). Yes.

Hmm, so I get 130. But wait — I wrote 77 × 13 = 1001 above; 77 × 13 is 1001, correct. So 12 multiples of 77 and the total is 130.

Therefore, there are 130 such integers."""),
    dict(id="hw-deepseek-wait-ok", cls="self_correction", label="correct",
         q="How many positive integers less than 100 are divisible by 6 but not by 4?",
         gold="8",
         response="""Multiples of 6 below 100: ⌊99/6⌋ = 16 of them.

Now remove the ones divisible by 4 as well. A number divisible by both 6 and 4 is divisible by lcm(6, 4) = 24. Wait, is it 12? lcm(6, 4) = 12, since 12 is divisible by both. So I need multiples of 12 below 100: ⌊99/12⌋ = 8.

So the count is 16 − 8 = 8.

Let me sanity-check by listing: 6, 18, 30, 42, 54, 66, 78, 90. That's 8 numbers, each divisible by 6 and not by 4. ✓

So there are 8 such numbers."""),
    dict(id="hw-gemini-bullets", cls="latex_prose", label="correct",
         q="Find the sum of the infinite geometric series $6 + 2 + \\frac{2}{3} + \\cdots$.",
         gold="9",
         response="""Here's how to find the sum:

* **Identify the first term and ratio:** the first term is $a = 6$ and each term is one third of the previous one, so $r = \\frac{2}{6} = \\frac{1}{3}$.
* **Check convergence:** since $|r| = \\frac{1}{3} < 1$, the series converges.
* **Apply the formula:** $S = \\frac{a}{1 - r} = \\frac{6}{1 - \\frac{1}{3}} = \\frac{6}{\\frac{2}{3}} = 9$.

So, the sum of the series is $9$."""),
    dict(id="hw-gemini-bullets-wrong", cls="latex_prose", label="incorrect",
         q="Find the sum of the infinite geometric series $6 + 2 + \\frac{2}{3} + \\cdots$.",
         gold="9",
         response="""Here's how to find the sum:

* **First term and ratio:** $a = 6$ and $r = \\frac{1}{3}$.
* **Formula:** $S = \\frac{a}{1 + r}$, which gives $\\frac{6}{\\frac{4}{3}} = 4.5$.

So, the sum of the series is $4.5$."""),
    dict(id="hw-claude-prime", cls="yes_no_claim", label="correct",
         q="Is 2027 a prime number?",
         gold="yes",
         response="""To decide whether 2027 is prime, I need to check divisibility by every prime up to $\\sqrt{2027} \\approx 45.02$, that is by 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41 and 43.

- 2027 is odd, and its digit sum 11 is not a multiple of 3; it does not end in 0 or 5.
- $7 \\times 289 = 2023$, remainder 4. $11 \\times 184 = 2024$, remainder 3. $13 \\times 155 = 2015$, remainder 12.
- $17 \\times 119 = 2023$, remainder 4. $19 \\times 106 = 2014$, remainder 13. $23 \\times 88 = 2024$, remainder 3.
- $29 \\times 69 = 2001$, remainder 26. $31 \\times 65 = 2015$, remainder 12. $37 \\times 54 = 1998$, remainder 29.
- $41 \\times 49 = 2009$, remainder 18. $43 \\times 47 = 2021$, remainder 6.

None of these primes divides 2027, so 2027 is indeed prime."""),
    dict(id="hw-claude-prime-wrong", cls="yes_no_claim", label="incorrect",
         q="Is 2027 a prime number?",
         gold="yes",
         response="""I'll test small primes. 2027 is odd and its digit sum is 11, so it is not divisible by 2 or 3.

Trying 7: $7 \\times 289 = 2023$, close but not exact. Trying 13: $13 \\times 156 = 2028$, one too many.

Given how close these products come, I suspect a factor, and after checking a few more candidates I conclude that 2027 is not prime."""),
    dict(id="hw-hedge-range", cls="hedge", label="incorrect",
         q="Estimate how many times a human heart beats in one day, as a whole number assuming 70 beats per minute.",
         gold="100800",
         response="""At 70 beats per minute, an hour has $70 \\times 60 = 4200$ beats.

A day has 24 hours, so the count is $4200 \\times 24$. I get something like 100,800, though depending on the resting rate it could be anywhere from about 86,000 to 144,000.

So the number of beats is probably around 100,800, but it might be closer to 86,400 if the rate is 60."""),
    dict(id="hw-loop", cls="looping", label="incorrect",
         q="What is the units digit of $3^{2024}$?",
         gold="1",
         response="""The units digits of powers of 3 cycle: 3, 9, 7, 1, 3, 9, 7, 1, ...

The cycle has length 4. Now 2024 divided by 4 is 506 with remainder 0, so """ + "we look at the fourth entry of the cycle, and the cycle is 3, 9, 7, 1, so " * 25),
    dict(id="hw-set-answer", cls="set_answer", label="correct",
         q="Find all integers $x$ with $|2x - 3| < 5$.",
         gold="\\{0, 1, 2, 3\\}",
         response="""The inequality $|2x - 3| < 5$ means $-5 < 2x - 3 < 5$.

Adding 3 throughout: $-2 < 2x < 8$, and dividing by 2: $-1 < x < 4$.

The integers strictly between $-1$ and $4$ are 0, 1, 2 and 3.

Therefore, the integer solutions are 0, 1, 2 and 3."""),
    dict(id="hw-set-missing", cls="set_answer", label="incorrect",
         q="Find all integers $x$ with $|2x - 3| < 5$.",
         gold="\\{0, 1, 2, 3\\}",
         response="""We need $-5 < 2x - 3 < 5$, i.e. $-2 < 2x < 8$, so $-1 < x < 4$.

Hmm, $x = 0$ gives $|{-3}| = 3 < 5$, fine; $x = 3$ gives $|3| = 3$, fine as well; the endpoints are excluded.

Therefore, the integer solutions are 1, 2 and 3."""),
    dict(id="hw-wordy-gt", cls="wordy_ground_truth", label="correct",
         q="A fair die is rolled twice. What is the probability that the sum is 7?",
         gold="1/6 (six favourable outcomes out of 36)",
         response="""There are $6 \\times 6 = 36$ equally likely ordered outcomes.

The pairs summing to 7 are (1,6), (2,5), (3,4), (4,3), (5,2), (6,1): six outcomes.

Hence the probability is $\\frac{6}{36} = \\frac{1}{6}$."""),
    dict(id="hw-expression", cls="expression_answer", label="correct",
         q="Find a closed form for $1 + 3 + 5 + \\cdots + (2n - 1)$.",
         gold="n^2",
         response="""Let me look at small cases: $n = 1$ gives 1, $n = 2$ gives $1 + 3 = 4$, $n = 3$ gives $1 + 3 + 5 = 9$, $n = 4$ gives 16.

These are perfect squares, which suggests $n^2$. To prove it, pair the first and last terms: $1 + (2n - 1) = 2n$, and there are $\\frac{n}{2}$ such pairs when $n$ is even, giving $n \\cdot n$. The odd case works the same way with a middle term equal to $n$.

Alternatively, by induction: if the sum of the first $n$ odd numbers is $n^2$, adding $2n + 1$ gives $n^2 + 2n + 1 = (n + 1)^2$.

Thus the sum of the first $n$ odd numbers is $n^2$."""),
    dict(id="hw-expression-cut-number", cls="expression_answer", label="incorrect",
         q="Find a closed form for $1 + 3 + 5 + \\cdots + (2n - 1)$.",
         gold="n^2",
         response="""Small cases: 1, 4, 9, 16 for $n = 1, 2, 3, 4$.

The sum grows like the number of terms times the average term, which is $\\frac{1 + (2n - 1)}{2} = n$.

Thus the sum of the first $n$ odd numbers is $n(n + 1)$."""),
    dict(id="hw-mc-prose", cls="multiple_choice", label="correct",
         q="Which planet has the shortest year? (A) Venus (B) Mercury (C) Mars (D) Earth",
         gold="B", choices=["Venus", "Mercury", "Mars", "Earth"],
         response="""A planet's year is its orbital period, and by Kepler's third law the period grows with the distance from the Sun.

Mercury is the closest planet to the Sun, orbiting in about 88 days, compared with about 225 days for Venus, 365 for Earth and 687 for Mars.

Therefore, (B) is correct."""),
    dict(id="hw-no-conclusion", cls="restated_question", label="incorrect",
         q="How many edges does a dodecahedron have?",
         gold="30",
         response="""A dodecahedron has 12 faces, each a regular pentagon, and 3 faces meet at every vertex.

Each pentagon has 5 edges, which gives $12 \\times 5 = 60$ edge-sides in total, and every edge is shared by two faces.

The question asks for the number of edges of the dodecahedron, which has 12 pentagonal faces."""),
    dict(id="hw-no-conclusion-ok", cls="answer_sentence", label="correct",
         q="How many edges does a dodecahedron have?",
         gold="30",
         response="""A dodecahedron has 12 faces, each a regular pentagon, and 3 faces meet at every vertex.

Each pentagon has 5 edges, which gives $12 \\times 5 = 60$ edge-sides in total, and every edge is shared by exactly two faces.

A dodecahedron therefore has 30 edges."""),
]
