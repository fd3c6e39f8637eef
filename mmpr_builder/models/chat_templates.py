"""Reference chat templates of the model families (Jinja, as in each checkpoint's tokenizer or processor files).

At run time a checkpoint's own template always wins (vLLM and transformers
read it from the model folder); these copies say what each family's format
looks like, let the tests render prompts (DropoutNTP continuation included)
without downloading a checkpoint, and give a converted or tiny test model a
template of its family. Sources, checked 2026-12:

- :data:`INTERNVL_CHAT`: ``tokenizer_config.json`` of OpenGVLab/InternVL2-8B
  and InternVL2_5-8B (string content; vLLM puts ``<image>`` before the text).
  InternVL2-4B (Phi-3) uses ``<|user|>``/``<|end|>`` instead: its own file wins.
- :data:`INTERNVL_HF`: ``chat_template.json`` of OpenGVLab/InternVL3-*-hf, as
  written by transformers' ``convert_internvl_weights_to_hf.py``
  (``<IMG_CONTEXT>`` per image, which ``InternVLProcessor`` expands).
- :data:`INTERNVL_HF_PHI3`: the same for InternVL2-4B's Phi-3 format (the roles
  and ``<|end|>`` separator of ``phi3-chat`` in InternVL's ``conversation.py``),
  written by ``mmpr models convert``.
- :data:`QWEN2_VL`: Qwen/Qwen2-VL-7B-Instruct and Qwen2.5-VL (same template).
- :data:`LLAVA_ONEVISION`: llava-hf/llava-onevision-qwen2-7b-ov-hf.
- :data:`LLAVA`: llava-hf/llava-1.5-7b-hf.
- :data:`IDEFICS3`: HuggingFaceTB/SmolVLM-Instruct ``chat_template.json``.
- :data:`LLAMA3`: meta-llama/Meta-Llama-3-8B-Instruct (text-only family's reference).
"""

from __future__ import annotations

INTERNVL_CHAT = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

INTERNVL_HF = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\\n' }}{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\\n' }}{% endif %}"
)

INTERNVL_HF_PHI3 = (
    "{% for message in messages %}{{'<|' + message['role'] + '|>\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\\n' }}{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{'<|end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|assistant|>\\n' }}{% endif %}"
)

QWEN2_VL = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAVA_ONEVISION = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\\n' + content['text'] }}{% endfor %}"
    "{{'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAVA = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

IDEFICS3 = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
